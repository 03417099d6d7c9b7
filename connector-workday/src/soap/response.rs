//! Reading SOAP answers with quick-xml, streaming and borrowing: each
//! `Worker` or `Organization` element is read into a small tree of the
//! elements the translation reads ([`Node`]; names, attributes and text stay
//! slices of the body, unescaped only where an entity demands), turned into a
//! JSON record with the REST source's field names, and dropped, so memory
//! stays bounded by one page. Subtrees no translation reads ([`UNREAD`]) are
//! skipped whole. A `Fault` is read as its `faultcode` and `faultstring`.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Value as Json};

/// Subtrees of a record that no translation reads: `(parent, element)` local
/// names. Their tokens are read past, no element of them is kept.
const UNREAD: &[(&str, &str)] = &[
    // The management chain's organizations: only its managers are read.
    ("Management_Chain_Data", "Organization_Reference"),
    ("Name_Detail_Data", "Country_Reference"),
    ("Phone_Data", "Phone_Device_Type_Reference"),
];

/// One element of the record being read, borrowed from the body.
#[derive(Debug)]
struct Element<'a> {
    /// Its local name (namespace prefix dropped).
    name: Cow<'a, str>,
    /// Its start tag, whose attributes are parsed only when asked.
    start: BytesStart<'a>,
    /// Its text, CDATA included: borrowed, unless an entity had to be
    /// unescaped or the text came in pieces.
    text: Cow<'a, str>,
    /// The index after its last descendant (its elements follow it).
    end: usize,
}

/// An element of a record: its record's elements in document order (each
/// followed by its descendants), its place among them, and the body they
/// are read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'t, 'a> {
    body: &'a str,
    elements: &'t [Element<'a>],
    at: usize,
}

impl<'t, 'a> Node<'t, 'a> {
    fn element(self) -> &'t Element<'a> {
        &self.elements[self.at]
    }

    /// Its local name (namespace prefix dropped) is `name`.
    fn is(self, name: &str) -> bool {
        self.element().name == name
    }

    fn children(self) -> impl Iterator<Item = Node<'t, 'a>> {
        let (body, elements, end) = (self.body, self.elements, self.element().end);
        let mut next = self.at + 1;
        std::iter::from_fn(move || {
            let child = (next < end).then_some(Node {
                body,
                elements,
                at: next,
            })?;
            next = elements[next].end;
            Some(child)
        })
    }

    fn child(self, name: &str) -> Option<Node<'t, 'a>> {
        self.children().find(|c| c.is(name))
    }

    fn all(self, name: &'t str) -> impl Iterator<Item = Node<'t, 'a>> {
        self.children().filter(move |c| c.is(name))
    }

    fn path(self, path: &[&str]) -> Option<Node<'t, 'a>> {
        path.iter().try_fold(self, |n, p| n.child(p))
    }

    /// The attribute with local name `name`, unescaped (empty if its escape
    /// is bad).
    fn attr(self, name: &str) -> Option<Cow<'a, str>> {
        self.element()
            .start
            .attributes()
            .with_checks(false)
            .flatten()
            .find(|a| a.key.local_name().as_ref() == name.as_bytes())
            .map(|a| decode(self.body, &a.value, true).unwrap_or_default())
    }

    /// The attribute `name` is `1` or `true`.
    fn attr_flag(self, name: &str) -> bool {
        self.attr(name).is_some_and(|p| p == "1" || p == "true")
    }

    /// The trimmed text, when not empty.
    fn value(self) -> Option<&'t str> {
        Some(self.element().text.trim()).filter(|t| !t.is_empty())
    }

    fn text_at(self, path: &[&str]) -> Option<&'t str> {
        self.path(path).and_then(Node::value)
    }

    /// A reference's `ID` of `type`.
    fn id(self, ty: &str) -> Option<&'t str> {
        self.all("ID")
            .find(|i| i.attr("type").as_deref() == Some(ty))
            .and_then(Node::value)
    }

    /// A flag (`1`/`true`): `None` when absent or unreadable.
    fn flag(self, name: &str) -> Option<bool> {
        match self.child(name)?.value()? {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        }
    }
}

/// A reference as the REST source writes it: `{"id", "descriptor"}`.
fn reference(n: Node<'_, '_>, descriptor: Option<&str>) -> Option<Json> {
    let id = n.id("WID")?;
    let mut o = Map::new();
    o.insert("id".into(), id.into());
    if let Some(d) = descriptor
        .map(Cow::Borrowed)
        .or_else(|| n.attr("Descriptor"))
    {
        o.insert("descriptor".into(), Json::String(d.into_owned()));
    }
    Some(Json::Object(o))
}

/// `Response_Results` of a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Results {
    /// `Total_Results`.
    pub total_results: u64,
    /// `Total_Pages`.
    pub total_pages: u64,
    /// `Page`.
    pub page: u64,
}

/// A parsed answer body.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A page of records.
    Page {
        /// Its `Response_Results`.
        results: Results,
        /// The records, in order.
        records: Vec<Json>,
    },
    /// A SOAP Fault.
    Fault {
        /// `faultcode`, e.g. `SOAP-ENV:Client.validationError`.
        code: String,
        /// `faultstring`.
        string: String,
    },
}

/// The elements outside records that a page or fault is read from; any
/// other is "".
fn envelope_name(local: &[u8]) -> &'static str {
    match local {
        b"Response_Results" => "Response_Results",
        b"Total_Results" => "Total_Results",
        b"Total_Pages" => "Total_Pages",
        b"Page" => "Page",
        b"faultcode" => "faultcode",
        b"faultstring" => "faultstring",
        _ => "",
    }
}

/// The subtree that `name` opens, inside `parent`, is one no translation
/// reads.
fn unread(parent: &str, name: &str) -> bool {
    UNREAD.iter().any(|&(p, n)| name == n && parent == p)
}

/// `part` as the `&str` it is in `body`, when quick-xml handed out a slice
/// of the body (it does for any text, name or attribute value it reads from
/// a `&str`): the body was checked as UTF-8 once, when it was read, so this
/// needs no second check.
fn within<'a>(body: &'a str, part: &[u8]) -> Option<&'a str> {
    let at = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    body.get(at..)?.get(..part.len())
}

/// Text or an attribute value as read (`raw`), unescaped when `escaped`
/// (CDATA is not); borrowed from `body` unless an entity was replaced.
fn decode<'a>(body: &'a str, raw: &[u8], escaped: bool) -> Result<Cow<'a, str>, String> {
    fn unescape(s: &str, escaped: bool) -> Result<Cow<'_, str>, String> {
        if !escaped {
            return Ok(Cow::Borrowed(s));
        }
        quick_xml::escape::unescape(s).map_err(|e| format!("the XML has a bad escape ({e})"))
    }
    match within(body, raw) {
        Some(s) => unescape(s, escaped),
        None => {
            let s = std::str::from_utf8(raw).map_err(|e| format!("the XML is not UTF-8 ({e})"))?;
            Ok(Cow::Owned(unescape(s, escaped)?.into_owned()))
        }
    }
}

/// Appends a piece of an element's text: text comes in pieces when a
/// comment or CDATA section splits it, and layout (whitespace around child
/// elements) is a piece too, which replacing keeps from allocating.
fn append<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.trim().is_empty() {
        *text = piece;
    } else if !piece.is_empty() {
        text.to_mut().push_str(&piece);
    }
}

/// Parses one answer: `record` is `Worker` or `Organization`; each is
/// turned into JSON by `convert` as soon as it closes.
///
/// # Errors
/// Why the body is not a readable SOAP answer.
pub(crate) fn parse(
    body: &str,
    record: &str,
    convert: for<'t, 'a> fn(Node<'t, 'a>) -> Json,
) -> Result<Parsed, String> {
    // Text is not trimmed as read: a comment inside a value keeps the spaces
    // around it. Values are trimmed when read (`Node::value`).
    let mut reader = Reader::from_str(body);
    // The record being read, and which of its elements are open.
    let mut elements: Vec<Element<'_>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    // The open elements outside records.
    let mut names: Vec<&'static str> = Vec::new();
    let mut results = Results::default();
    let mut saw_results = false;
    let mut records = Vec::new();
    let mut fault: Option<(String, String)> = None;
    let malformed = |reader: &Reader<&[u8]>, e: quick_xml::Error| {
        format!(
            "the XML is malformed at byte {} ({e})",
            reader.buffer_position()
        )
    };
    loop {
        let event = reader.read_event().map_err(|e| malformed(&reader, e))?;
        match event {
            Event::Start(start) => {
                let name = decode(body, start.local_name().as_ref(), false)?;
                if let Some(&parent) = open.last() {
                    if unread(&elements[parent].name, &name) {
                        reader
                            .read_to_end(start.name())
                            .map_err(|e| malformed(&reader, e))?;
                        continue;
                    }
                } else if name != record {
                    names.push(envelope_name(name.as_bytes()));
                    continue;
                }
                open.push(elements.len());
                elements.push(Element {
                    name,
                    start,
                    text: Cow::Borrowed(""),
                    end: 0,
                });
            }
            Event::Empty(start) if !open.is_empty() => {
                let end = elements.len() + 1;
                elements.push(Element {
                    name: decode(body, start.local_name().as_ref(), false)?,
                    start,
                    text: Cow::Borrowed(""),
                    end,
                });
            }
            Event::Text(t) => {
                let text = decode(body, &t, true)?;
                if let Some(&at) = open.last() {
                    append(&mut elements[at].text, text);
                } else if let Some(&name) = names.last() {
                    let n = || text.trim().parse::<u64>().ok();
                    let in_results = names.iter().rev().nth(1) == Some(&"Response_Results");
                    match name {
                        "Total_Results" if in_results => {
                            results.total_results = n().ok_or("Total_Results is not a number")?;
                            saw_results = true;
                        }
                        "Total_Pages" if in_results => {
                            results.total_pages = n().ok_or("Total_Pages is not a number")?;
                        }
                        "Page" if in_results => {
                            results.page = n().ok_or("Page is not a number")?;
                        }
                        "faultcode" => fault.get_or_insert_default().0 = text.trim().to_string(),
                        "faultstring" => fault.get_or_insert_default().1 = text.trim().to_string(),
                        _ => {}
                    }
                }
            }
            Event::CData(t) => {
                if let Some(&at) = open.last() {
                    append(&mut elements[at].text, decode(body, &t, false)?);
                }
            }
            Event::End(_) => {
                if let Some(at) = open.pop() {
                    elements[at].end = elements.len();
                    if open.is_empty() {
                        records.push(convert(Node {
                            body,
                            elements: &elements,
                            at,
                        }));
                        elements.clear();
                    }
                } else {
                    names.pop();
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !open.is_empty() || !names.is_empty() {
        // quick-xml ends quietly at the end of the input: an answer cut
        // mid-way (a proxy, a dropped connection) would otherwise read as a
        // short page.
        let where_ = match open.first() {
            Some(&at) => format!("inside a <{}>", elements[at].name),
            None => "before its envelope closes".to_string(),
        };
        return Err(format!("the XML ends {where_}: the answer was cut off"));
    }
    if let Some((code, string)) = fault {
        return Ok(Parsed::Fault { code, string });
    }
    if !saw_results {
        return Err("it has no Response_Results/Total_Results".into());
    }
    Ok(Parsed::Page { results, records })
}

fn put(o: &mut Map<String, Json>, key: &str, v: Option<impl Into<Json>>) {
    if let Some(v) = v {
        o.insert(key.to_string(), v.into());
    }
}

/// The usage is WORK and primary.
fn is_primary_work(n: Node<'_, '_>) -> bool {
    n.all("Usage_Data").any(|u| {
        u.all("Type_Data").any(|t| {
            t.attr_flag("Primary")
                && t.child("Type_Reference")
                    .and_then(|r| r.id("Communication_Usage_Type_ID"))
                    == Some("WORK")
        })
    })
}

/// `employmentStatus` from `Worker_Status_Data`, in the issue's order.
fn status(st: Node<'_, '_>) -> &'static str {
    if st.flag("Terminated") == Some(true) || st.flag("Hire_Rescinded") == Some(true) {
        "Terminated"
    } else if st
        .path(&["Leave_Status_Data"])
        .and_then(|l| l.flag("On_Leave"))
        == Some(true)
    {
        "On Leave"
    } else if st.flag("Active") == Some(true) {
        "Active"
    } else {
        "Inactive"
    }
}

/// One `Worker` element as a REST-shaped worker record.
pub(crate) fn worker(w: Node<'_, '_>) -> Json {
    let mut o = Map::new();
    let reference_el = w.child("Worker_Reference");
    let wid = reference_el.and_then(|r| r.id("WID"));
    put(&mut o, "id", wid);
    if let Some(r) = reference_el {
        if r.id("Contingent_Worker_ID").is_some() {
            put(&mut o, "workerType", Some("Contingent Worker"));
        } else if r.id("Employee_ID").is_some() {
            put(&mut o, "workerType", Some("Employee"));
        }
    }
    put(&mut o, "displayName", w.text_at(&["Worker_Descriptor"]));
    put(&mut o, "descriptor", w.text_at(&["Worker_Descriptor"]));
    let Some(data) = w.child("Worker_Data") else {
        return Json::Object(o);
    };
    put(&mut o, "employeeNumber", data.text_at(&["Worker_ID"]));
    if let Some(personal) = data.child("Personal_Data") {
        let names = personal.child("Name_Data");
        if let Some(legal) = names.and_then(|n| n.path(&["Legal_Name_Data", "Name_Detail_Data"])) {
            put(&mut o, "firstName", legal.text_at(&["First_Name"]));
            put(&mut o, "lastName", legal.text_at(&["Last_Name"]));
        }
        if let Some(pref) = names.and_then(|n| n.path(&["Preferred_Name_Data", "Name_Detail_Data"]))
        {
            put(
                &mut o,
                "preferredName",
                pref.text_at(&["First_Name"])
                    .map(Cow::Borrowed)
                    .or_else(|| pref.attr("Formatted_Name")),
            );
        }
        if let Some(contact) = personal.child("Contact_Data") {
            put(
                &mut o,
                "workEmail",
                contact
                    .all("Email_Address_Data")
                    .find(|e| is_primary_work(*e))
                    .and_then(|e| e.text_at(&["Email_Address"])),
            );
            put(
                &mut o,
                "workPhone",
                contact
                    .all("Phone_Data")
                    .find(|p| is_primary_work(*p))
                    .and_then(|p| {
                        p.attr("International_Formatted_Phone")
                            .or_else(|| p.text_at(&["Phone_Number"]).map(Cow::Borrowed))
                    }),
            );
        }
    }
    if let Some(emp) = data.child("Employment_Data") {
        let primary = emp
            .all("Worker_Job_Data")
            .find(|j| j.attr_flag("Primary_Job"))
            .or_else(|| emp.child("Worker_Job_Data"));
        if let Some(pos) = primary.and_then(|j| j.child("Position_Data")) {
            put(&mut o, "jobTitle", pos.text_at(&["Position_Title"]));
            put(&mut o, "businessTitle", pos.text_at(&["Business_Title"]));
            if let Some(jp) = pos.child("Job_Profile_Summary_Data") {
                let name = jp.text_at(&["Job_Profile_Name"]);
                put(
                    &mut o,
                    "jobProfile",
                    jp.child("Job_Profile_Reference")
                        .and_then(|r| reference(r, name))
                        .or(name.map(Json::from)),
                );
            }
            if let Some(site) = pos.child("Business_Site_Summary_Data") {
                let name = site.text_at(&["Name"]);
                let loc = site.child("Location_Reference");
                put(
                    &mut o,
                    "locationCode",
                    loc.and_then(|l| l.id("Location_ID")),
                );
                put(
                    &mut o,
                    "location",
                    loc.and_then(|r| reference(r, name))
                        .or(name.map(Json::from)),
                );
            }
        }
        if let Some(st) = emp.child("Worker_Status_Data") {
            put(&mut o, "employmentStatus", Some(status(st)));
            put(&mut o, "hireDate", st.text_at(&["Hire_Date"]));
            put(&mut o, "terminationDate", st.text_at(&["Termination_Date"]));
        }
    }
    if let Some(orgs) = data.child("Organization_Data") {
        for m in orgs.all("Worker_Organization_Data") {
            let Some(od) = m.child("Organization_Data") else {
                continue;
            };
            let ty = od
                .child("Organization_Type_Reference")
                .and_then(|t| t.id("Organization_Type_ID"));
            let name = od.text_at(&["Organization_Name"]);
            let code = od.text_at(&["Organization_Code"]);
            let r = m
                .child("Organization_Reference")
                .and_then(|r| reference(r, name));
            match ty {
                Some("SUPERVISORY") if !o.contains_key("primaryWorkerSupervisoryOrganization") => {
                    put(&mut o, "primaryWorkerSupervisoryOrganization", r);
                }
                Some("COST_CENTER") if !o.contains_key("costCenter") => {
                    put(&mut o, "costCenter", r);
                    put(&mut o, "costCenterCode", code);
                }
                Some("COMPANY") if !o.contains_key("companyCode") => {
                    put(&mut o, "companyCode", code);
                    put(&mut o, "legalEntity", name);
                }
                _ => {}
            }
        }
    }
    if let Some(chain) = data.path(&[
        "Management_Chain_Data",
        "Worker_Supervisory_Management_Chain_Data",
    ]) {
        // A worker who manages an organization of their own chain is a
        // manager; otherwise the chain does not say (they may manage an
        // organization outside it), so isManager stays absent.
        let manages = chain
            .all("Management_Chain_Data")
            .filter_map(|c| c.child("Manager_Reference"))
            .any(|m| wid.is_some() && m.id("WID") == wid);
        if manages {
            o.insert("isManager".into(), Json::Bool(true));
        }
        // Top-down: the nearest manager is the last one who is not the worker.
        let manager = chain
            .all("Management_Chain_Data")
            .filter_map(|c| c.child("Manager_Reference"))
            .filter(|m| m.id("WID").is_some() && m.id("WID") != wid)
            .last()
            .and_then(|m| reference(m, None));
        put(&mut o, "manager", manager);
    }
    Json::Object(o)
}

/// One `Organization` element as a REST-shaped supervisory organization
/// record, plus `inactive` when Workday says so.
pub(crate) fn organization(org: Node<'_, '_>) -> Json {
    let mut o = Map::new();
    let data = org.child("Organization_Data");
    let name = data.and_then(|d| d.text_at(&["Name"]));
    put(
        &mut o,
        "id",
        org.child("Organization_Reference")
            .and_then(|r| r.id("WID")),
    );
    let Some(d) = data else {
        return Json::Object(o);
    };
    put(&mut o, "name", name);
    put(
        &mut o,
        "code",
        d.text_at(&["Organization_Code"])
            .or_else(|| d.text_at(&["Reference_ID"])),
    );
    put(
        &mut o,
        "lastUpdatedDateTime",
        d.text_at(&["Last_Updated_DateTime"]),
    );
    put(&mut o, "inactive", d.flag("Inactive"));
    put(
        &mut o,
        "manager",
        d.child("Manager_Reference")
            .and_then(|r| reference(r, None)),
    );
    put(
        &mut o,
        "parentOrganization",
        d.path(&["Hierarchy_Data", "Superior_Organization_Reference"])
            .and_then(|r| reference(r, None)),
    );
    Json::Object(o)
}

/// Parses a `Get_Workers` answer.
pub(crate) fn workers(body: &str) -> Result<Parsed, String> {
    parse(body, "Worker", worker)
}

/// Parses a `Get_Organizations` answer.
pub(crate) fn organizations(body: &str) -> Result<Parsed, String> {
    parse(body, "Organization", organization)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExternalIdAttribute;
    use serde_json::json;

    fn one_worker(xml: &str) -> Json {
        match workers(xml).unwrap() {
            Parsed::Page { results, records } => {
                assert_eq!(results.total_results, 1);
                assert_eq!(records.len(), 1);
                records.into_iter().next().unwrap()
            }
            Parsed::Fault { .. } => panic!("a fault"),
        }
    }

    /// The translated record, then the change the one mapping makes of it.
    fn translated(xml: &str) -> String {
        let record = one_worker(xml);
        let change = crate::mapping::map_worker(&record, ExternalIdAttribute::Id).unwrap();
        format!(
            "{}\n--- mapped ---\n{:?}\n{}",
            serde_json::to_string_pretty(&record).unwrap(),
            change.kind,
            change
                .attributes
                .iter()
                .map(|(k, v)| format!("{k} = {v:?}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/soap/", $name, ".xml"))
        };
    }

    #[test]
    fn contingent_worker() {
        insta::assert_snapshot!(translated(fixture!("worker_contingent")));
    }

    #[test]
    fn terminated_worker() {
        insta::assert_snapshot!(translated(fixture!("worker_terminated")));
    }

    #[test]
    fn worker_on_leave() {
        insta::assert_snapshot!(translated(fixture!("worker_on_leave")));
    }

    #[test]
    fn self_managed_manager() {
        insta::assert_snapshot!(translated(fixture!("worker_self_managed_manager")));
    }

    #[test]
    fn worker_with_two_jobs() {
        insta::assert_snapshot!(translated(fixture!("worker_two_jobs")));
    }

    #[test]
    fn status_order() {
        let st = |xml: &str| {
            let body = format!(
                "<Envelope><Response_Results><Total_Results>1</Total_Results></Response_Results><Worker><Worker_Data><Employment_Data><Worker_Status_Data>{xml}</Worker_Status_Data></Employment_Data></Worker_Data></Worker></Envelope>"
            );
            one_worker(&body)["employmentStatus"].clone()
        };
        assert_eq!(
            st("<Active>1</Active><Terminated>1</Terminated>"),
            json!("Terminated")
        );
        assert_eq!(
            st("<Active>0</Active><Hire_Rescinded>1</Hire_Rescinded>"),
            json!("Terminated")
        );
        assert_eq!(
            st("<Active>1</Active><Leave_Status_Data><On_Leave>1</On_Leave></Leave_Status_Data>"),
            json!("On Leave")
        );
        assert_eq!(st("<Active>1</Active>"), json!("Active"));
        assert_eq!(st("<Active>0</Active>"), json!("Inactive"));
        assert_eq!(st(""), json!("Inactive"));
    }

    #[test]
    fn absent_elements_are_absent_fields() {
        let body = "<Envelope><Response_Results><Total_Results>1</Total_Results></Response_Results><Worker><Worker_Reference><ID type=\"WID\">w1</ID></Worker_Reference></Worker></Envelope>";
        assert_eq!(one_worker(body), json!({"id": "w1"}));
    }

    #[test]
    fn entities_cdata_comments_and_layout_are_read() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
  <env:Body>
    <wd:Get_Workers_Response xmlns:wd="urn:com.workday/bsvc">
      <wd:Response_Results>
        <wd:Total_Results> 1 </wd:Total_Results>
      </wd:Response_Results>
      <wd:Response_Data>
        <wd:Worker>
          <wd:Worker_Reference wd:Descriptor="x">
            <wd:ID wd:type="WID">w&#49;</wd:ID>
            <wd:ID wd:type="Employee_ID">E1</wd:ID>
          </wd:Worker_Reference>
          <wd:Worker_Descriptor>
            Ann<!-- a comment --> O&apos;Brien &amp; Co
          </wd:Worker_Descriptor>
          <wd:Worker_Data>
            <wd:Personal_Data>
              <wd:Name_Data>
                <wd:Legal_Name_Data>
                  <wd:Name_Detail_Data>
                    <wd:Country_Reference><wd:ID wd:type="ISO_3166-1_Alpha-2_Code">IE</wd:ID></wd:Country_Reference>
                    <wd:First_Name><![CDATA[Ann & <Bo>]]></wd:First_Name>
                    <wd:Last_Name>O&apos;<![CDATA[Brien]]></wd:Last_Name>
                  </wd:Name_Detail_Data>
                </wd:Legal_Name_Data>
              </wd:Name_Data>
            </wd:Personal_Data>
            <wd:Employment_Data>
              <wd:Worker_Job_Data wd:Primary_Job="1">
                <wd:Position_Data>
                  <wd:Job_Profile_Summary_Data>
                    <wd:Job_Profile_Reference wd:Descriptor="R&amp;D &lt;Lead&gt;">
                      <wd:ID wd:type="WID">jp1</wd:ID>
                    </wd:Job_Profile_Reference>
                  </wd:Job_Profile_Summary_Data>
                </wd:Position_Data>
              </wd:Worker_Job_Data>
            </wd:Employment_Data>
          </wd:Worker_Data>
        </wd:Worker>
      </wd:Response_Data>
    </wd:Get_Workers_Response>
  </env:Body>
</env:Envelope>
"#;
        assert_eq!(
            one_worker(body),
            json!({
                "id": "w1",
                "workerType": "Employee",
                "displayName": "Ann O'Brien & Co",
                "descriptor": "Ann O'Brien & Co",
                "firstName": "Ann & <Bo>",
                "lastName": "O'Brien",
                "jobProfile": {"id": "jp1", "descriptor": "R&D <Lead>"},
            })
        );
    }

    #[test]
    fn a_bad_escape_is_an_error() {
        let body = "<Envelope><Response_Results><Total_Results>1</Total_Results></Response_Results><Worker><Worker_Descriptor>A &bogus; B</Worker_Descriptor></Worker></Envelope>";
        let err = workers(body).unwrap_err();
        assert!(err.starts_with("the XML has a bad escape"), "{err}");
    }

    #[test]
    fn a_body_cut_off_is_an_error_not_a_short_page() {
        let whole = "<Envelope><Body><Response_Results><Total_Results>2</Total_Results></Response_Results><Worker><Worker_Descriptor>A</Worker_Descriptor></Worker><Worker><Worker_Descriptor>B</Worker_Descriptor></Worker></Body></Envelope>";
        assert!(
            matches!(workers(whole), Ok(Parsed::Page { ref records, .. }) if records.len() == 2)
        );
        let in_record = &whole[..whole.rfind("<Worker_Descriptor>B").unwrap()];
        assert_eq!(
            workers(in_record).unwrap_err(),
            "the XML ends inside a <Worker>: the answer was cut off"
        );
        let after_record = &whole[..whole.rfind("</Body>").unwrap()];
        assert_eq!(
            workers(after_record).unwrap_err(),
            "the XML ends before its envelope closes: the answer was cut off"
        );
    }

    #[test]
    fn faults_are_read() {
        let body = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client.validationError</faultcode><faultstring>Validation error occurred. Bad</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>";
        match workers(body).unwrap() {
            Parsed::Fault { code, string } => {
                assert_eq!(code, "SOAP-ENV:Client.validationError");
                assert_eq!(string, "Validation error occurred. Bad");
            }
            Parsed::Page { .. } => panic!("not a fault"),
        }
    }

    #[test]
    fn organizations_page() {
        let Parsed::Page { results, records } = organizations(include_str!(
            "../../tests/fixtures/soap/organizations_page.xml"
        ))
        .unwrap() else {
            panic!("a fault")
        };
        assert_eq!(results.total_results, records.len() as u64);
        assert_eq!(records.len(), 8);
        // The top organization has no parent; the others have one.
        assert!(records[0].get("parentOrganization").is_none());
        assert!(records[1..]
            .iter()
            .all(|r| r["parentOrganization"]["id"].is_string()));
        assert!(records.iter().all(|r| r["inactive"] == json!(false)));
    }
}
