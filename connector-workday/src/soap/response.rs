//! Reading SOAP answers with quick-xml, streaming and borrowing: each
//! `Worker` or `Organization` element is read into a small tree of the
//! elements the translation reads ([`Node`]; names, attributes and text stay
//! slices of the body, unescaped only where an entity demands), turned into a
//! record with the REST source's field names ([`SoapRecord`]: the names are
//! the translation's constants, the values share one buffer), and dropped,
//! so memory stays bounded by one page. Subtrees no translation reads
//! ([`UNREAD`]) are skipped whole, their end found in the raw bytes without
//! tokenizing them ([`end_tag`]). A `Fault` is read as its `faultcode` and
//! `faultstring`.

use std::borrow::Cow;

use memchr::memmem::Finder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::Reader;
use serde_json::{Map, Value as Json};

use crate::record::{FieldValue, Fields, Part};

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
    name: &'a str,
    /// Its start tag, whose attributes are parsed only when asked.
    start: BytesStart<'a>,
    /// An entity may be in its start tag ([`Entities`]).
    entity: bool,
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
        let element = self.element();
        element
            .start
            .attributes()
            .with_checks(false)
            .flatten()
            .find(|a| local_name(a.key.as_ref()) == name.as_bytes())
            .map(|a| decode(self.body, &a.value, element.entity).unwrap_or_default())
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
fn reference<'t>(n: Node<'t, '_>, descriptor: Option<&'t str>) -> Option<Val<'t>> {
    let id = n.id("WID")?;
    Some(Val::Reference(
        id,
        descriptor
            .map(Cow::Borrowed)
            .or_else(|| n.attr("Descriptor")),
    ))
}

/// A value the translation writes into a [`SoapRecord`].
#[derive(Debug)]
enum Val<'s> {
    Text(Cow<'s, str>),
    Bool(bool),
    /// A reference: its `id` and `descriptor`.
    Reference(&'s str, Option<Cow<'s, str>>),
}

impl<'s> From<&'s str> for Val<'s> {
    fn from(s: &'s str) -> Self {
        Val::Text(Cow::Borrowed(s))
    }
}

impl<'s> From<Cow<'s, str>> for Val<'s> {
    fn from(s: Cow<'s, str>) -> Self {
        Val::Text(s)
    }
}

impl From<bool> for Val<'_> {
    fn from(b: bool) -> Self {
        Val::Bool(b)
    }
}

/// Where a string of a [`SoapRecord`] is in its buffer: start and length.
type Span = (usize, usize);

/// A field's value in a [`SoapRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Text(Span),
    Bool(bool),
    Reference { id: Span, descriptor: Option<Span> },
}

/// A record as the SOAP source read it, with the REST source's field names
/// (the translation's constants) in the order it wrote them; its strings
/// share one buffer, so a record costs two allocations whatever its size.
/// The mapping reads it through [`Fields`], as it reads a REST record; its
/// JSON form ([`SoapRecord::to_json`]) is what the REST source would have
/// sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoapRecord {
    text: String,
    fields: Vec<(&'static str, Slot)>,
}

impl SoapRecord {
    fn new() -> Self {
        SoapRecord {
            text: String::with_capacity(512),
            fields: Vec::with_capacity(24),
        }
    }

    fn keep(&mut self, s: &str) -> Span {
        let at = self.text.len();
        self.text.push_str(s);
        (at, s.len())
    }

    fn str(&self, (at, len): Span) -> &str {
        self.text.get(at..at + len).unwrap_or_default()
    }

    /// Sets `key` (replacing a value it had).
    fn insert(&mut self, key: &'static str, v: Val<'_>) {
        let slot = match v {
            Val::Text(s) => Slot::Text(self.keep(&s)),
            Val::Bool(b) => Slot::Bool(b),
            Val::Reference(id, descriptor) => Slot::Reference {
                id: self.keep(id),
                descriptor: descriptor.map(|d| self.keep(&d)),
            },
        };
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = slot,
            None => self.fields.push((key, slot)),
        }
    }

    fn contains_key(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| *k == key)
    }

    /// The record as the REST source's JSON object.
    pub fn to_json(&self) -> Json {
        let mut o = Map::new();
        for &(key, slot) in &self.fields {
            let v = match slot {
                Slot::Text(s) => Json::from(self.str(s)),
                Slot::Bool(b) => Json::Bool(b),
                Slot::Reference { id, descriptor } => {
                    let mut r = Map::new();
                    r.insert("id".into(), self.str(id).into());
                    if let Some(d) = descriptor {
                        r.insert("descriptor".into(), self.str(d).into());
                    }
                    Json::Object(r)
                }
            };
            o.insert(key.to_string(), v);
        }
        Json::Object(o)
    }
}

impl Fields for SoapRecord {
    fn not_an_object(&self) -> Option<&'static str> {
        None
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let &(_, slot) = self.fields.iter().find(|(k, _)| *k == name)?;
        Some(match slot {
            Slot::Text(s) => FieldValue::String(Cow::Borrowed(self.str(s))),
            Slot::Bool(b) => FieldValue::Bool(b),
            Slot::Reference { id, descriptor } => FieldValue::Object {
                id: Part::String(Cow::Borrowed(self.str(id))),
                descriptor: descriptor
                    .map_or(Part::Absent, |d| Part::String(Cow::Borrowed(self.str(d)))),
            },
        })
    }
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
        records: Vec<SoapRecord>,
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
    body.get(span(body, part)?)
}

/// Where `part` is in `body`, when it is a slice of it.
fn span(body: &str, part: &[u8]) -> Option<std::ops::Range<usize>> {
    let at = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    let end = at
        .checked_add(part.len())
        .filter(|&end| end <= body.len())?;
    Some(at..end)
}

/// Where the body has a `&`, found in one scan of the page as it is read:
/// every entity begins with one, so a text or start tag holds an entity
/// only if one falls inside it.
struct Entities<'h> {
    at: memchr::Memchr<'h>,
    /// The first not before the last part of the body asked about.
    next: Option<usize>,
}

impl<'h> Entities<'h> {
    fn of(body: &'h str) -> Self {
        let mut at = memchr::memchr_iter(b'&', body.as_bytes());
        let next = at.next();
        Entities { at, next }
    }

    /// A `&` falls in `part`, a slice of `body` (true when `part` is not
    /// one). Parts are asked about in document order, so the page is
    /// scanned once.
    fn in_part(&mut self, body: &str, part: &[u8]) -> bool {
        let Some(std::ops::Range { start, end }) = span(body, part) else {
            return true;
        };
        while self.next.is_some_and(|a| a < start) {
            self.next = self.at.next();
        }
        self.next.is_some_and(|a| a < end)
    }
}

/// A name's local part: after its prefix's `:`. (A plain scan: names are
/// shorter than `memchr`'s set-up pays for.)
fn local_name(qname: &[u8]) -> &[u8] {
    qname
        .iter()
        .position(|&b| b == b':')
        .map_or(qname, |colon| &qname[colon + 1..])
}

/// An element's local name, as the `&str` it is in `body`.
fn element_name<'a>(body: &'a str, qname: QName<'_>) -> Result<&'a str, String> {
    let local = local_name(qname.into_inner());
    within(body, local).ok_or_else(|| {
        format!(
            "the XML reader gave an element name that is not part of the answer ({})",
            String::from_utf8_lossy(local)
        )
    })
}

/// Text or an attribute value as read (`raw`), unescaped when `unescape`
/// (an escaped value, not CDATA, in which [`Entities`] found a `&`);
/// borrowed from `body` unless an entity was replaced.
fn decode<'a>(body: &'a str, raw: &[u8], unescape: bool) -> Result<Cow<'a, str>, String> {
    fn unescaped(s: &str) -> Result<Cow<'_, str>, String> {
        quick_xml::escape::unescape(s).map_err(|e| format!("the XML has a bad escape ({e})"))
    }
    match within(body, raw) {
        Some(s) if unescape => unescaped(s),
        Some(s) => Ok(Cow::Borrowed(s)),
        None => {
            let s = std::str::from_utf8(raw).map_err(|e| format!("the XML is not UTF-8 ({e})"))?;
            let s = if unescape {
                unescaped(s)?
            } else {
                Cow::Borrowed(s)
            };
            Ok(Cow::Owned(s.into_owned()))
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

/// Why the body is malformed, where the reader stopped.
fn malformed(reader: &Reader<&[u8]>, body: &str, e: &quick_xml::Error) -> String {
    // The reader's own count misses what [`skip`] jumped over.
    let at = body.len() - reader.get_ref().len();
    format!("the XML is malformed at byte {at} ({e})")
}

/// Reads past the element whose start tag (named `qname`, prefix and all)
/// the reader has just read, and its end tag. Its end tag is found in the
/// raw bytes ([`end_tag`]) rather than by tokenizing the subtree; when the
/// subtree holds markup that search does not read, or the body ends inside
/// it, quick-xml reads it (and says what is wrong).
fn skip<'a>(
    reader: &mut Reader<&'a [u8]>,
    body: &'a str,
    qname: QName<'_>,
    finders: &mut Vec<Finder<'static>>,
) -> Result<(), String> {
    let from = body.len() - reader.get_ref().len();
    let at = match finders.iter().position(|f| f.needle() == qname.as_ref()) {
        Some(at) => at,
        None => {
            finders.push(Finder::new(qname.as_ref()).into_owned());
            finders.len() - 1
        }
    };
    match end_tag(body.as_bytes(), from, &finders[at]) {
        Some(end) => {
            // The reader resumes at the end tag and reads it, so it checks
            // that the tag closes the element it saw open.
            *reader.get_mut() = &body.as_bytes()[end..];
            match reader.read_event() {
                Ok(Event::End(_)) => Ok(()),
                Ok(other) => Err(format!(
                    "the XML is malformed at byte {end} (expected the end of <{}>, found {other:?})",
                    String::from_utf8_lossy(qname.as_ref())
                )),
                Err(e) => Err(malformed(reader, body, &e)),
            }
        }
        None => reader
            .read_to_end(qname)
            .map(drop)
            .map_err(|e| malformed(reader, body, &e)),
    }
}

/// Where, at or after `from`, the end tag `</qname>` (`qname` finds the
/// name, prefix and all) closing an element
/// opened just before `from` begins, found without tokenizing: each place
/// `qname` occurs is an end tag of that name (`</qname` then `>` or
/// whitespace), a start tag of that name (`<qname` then `>`, `/` or
/// whitespace: a nested element, unless its tag closes itself), or neither
/// (text, or a longer name). Every `<` outside comments, CDATA and
/// processing instructions opens a tag (a `<` in text or an attribute is
/// escaped), so this is exact when the subtree has none of those: `None`
/// when it has (or the body ends first), and the caller tokenizes.
fn end_tag(body: &[u8], from: usize, qname: &Finder<'_>) -> Option<usize> {
    let rest = body.get(from..)?;
    let qname_len = qname.needle().len();
    let mut depth = 0usize;
    let mut at = 0;
    let end = loop {
        let found = at + qname.find(rest.get(at..)?)?;
        let after = rest.get(found + qname_len).copied();
        at = found + qname_len;
        if found >= 2 && rest[found - 2..found] == *b"</" {
            if matches!(after, Some(b'>' | b' ' | b'\t' | b'\r' | b'\n')) {
                if depth == 0 {
                    break found - 2;
                }
                depth -= 1;
            }
        } else if found >= 1
            && rest[found - 1] == b'<'
            && matches!(after, Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n'))
        {
            let (close, closes_itself) = tag_close(rest, at)?;
            depth += usize::from(!closes_itself);
            at = close + 1;
        }
    };
    let inner = &rest[..end];
    let plain =
        memchr::memchr_iter(b'<', inner).all(|i| !matches!(inner.get(i + 1), Some(b'!' | b'?')));
    plain.then_some(from + end)
}

/// The `>` that ends the tag whose name ends at `at` (a `>` in a quoted
/// attribute value is not it), and whether the tag closes itself (`/>`).
fn tag_close(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut quote = None;
    for (i, &b) in bytes.get(at..)?.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some((at + i, i > 0 && bytes[at + i - 1] == b'/')),
            _ => {}
        }
    }
    None
}

/// Parses one answer: `record` is `Worker` or `Organization`; each is
/// translated by `convert` as soon as it closes.
///
/// # Errors
/// Why the body is not a readable SOAP answer.
pub(crate) fn parse(
    body: &str,
    record: &str,
    convert: for<'t, 'a> fn(Node<'t, 'a>) -> SoapRecord,
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
    // The end-tag finders of the subtrees skipped so far (built once a page).
    let mut finders = Vec::new();
    let mut entities = Entities::of(body);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(&reader, body, &e))?;
        match event {
            Event::Start(start) => {
                let name = element_name(body, start.name())?;
                if let Some(&parent) = open.last() {
                    if unread(elements[parent].name, name) {
                        skip(&mut reader, body, start.name(), &mut finders)?;
                        continue;
                    }
                } else if name != record {
                    names.push(envelope_name(name.as_bytes()));
                    continue;
                }
                open.push(elements.len());
                elements.push(Element {
                    name,
                    entity: entities.in_part(body, &start),
                    start,
                    text: Cow::Borrowed(""),
                    end: 0,
                });
            }
            Event::Empty(start) if !open.is_empty() => {
                let end = elements.len() + 1;
                elements.push(Element {
                    name: element_name(body, start.name())?,
                    entity: entities.in_part(body, &start),
                    start,
                    text: Cow::Borrowed(""),
                    end,
                });
            }
            Event::Text(t) => {
                let text = decode(body, &t, entities.in_part(body, &t))?;
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

fn put<'s>(o: &mut SoapRecord, key: &'static str, v: Option<impl Into<Val<'s>>>) {
    if let Some(v) = v {
        o.insert(key, v.into());
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
pub(crate) fn worker(w: Node<'_, '_>) -> SoapRecord {
    let mut o = SoapRecord::new();
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
        return o;
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
                        .or(name.map(Val::from)),
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
                    loc.and_then(|r| reference(r, name)).or(name.map(Val::from)),
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
        // One pass over the chain's managers, each one's WID read once.
        // A worker who manages an organization of their own chain is a
        // manager; otherwise the chain does not say (they may manage an
        // organization outside it), so isManager stays absent.
        // Top-down: the nearest manager is the last one who is not the worker.
        let mut manages = false;
        let mut nearest = None;
        for m in chain
            .all("Management_Chain_Data")
            .filter_map(|c| c.child("Manager_Reference"))
        {
            match m.id("WID") {
                Some(id) if Some(id) == wid => manages = true,
                Some(id) => nearest = Some((m, id)),
                None => {}
            }
        }
        if manages {
            o.insert("isManager", Val::Bool(true));
        }
        let manager = nearest.map(|(m, id)| Val::Reference(id, m.attr("Descriptor")));
        put(&mut o, "manager", manager);
    }
    o
}

/// One `Organization` element as a REST-shaped supervisory organization
/// record, plus `inactive` when Workday says so.
pub(crate) fn organization(org: Node<'_, '_>) -> SoapRecord {
    let mut o = SoapRecord::new();
    let data = org.child("Organization_Data");
    let name = data.and_then(|d| d.text_at(&["Name"]));
    put(
        &mut o,
        "id",
        org.child("Organization_Reference")
            .and_then(|r| r.id("WID")),
    );
    let Some(d) = data else {
        return o;
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
    o
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
        one_record(xml).to_json()
    }

    fn one_record(xml: &str) -> SoapRecord {
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
        let record = one_record(xml);
        let change = crate::mapping::map_worker(&record, ExternalIdAttribute::Id).unwrap();
        format!(
            "{}\n--- mapped ---\n{:?}\n{}",
            serde_json::to_string_pretty(&record.to_json()).unwrap(),
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

    /// A worker whose `Country_Reference` (a subtree no translation reads)
    /// holds `inside`, followed by a name that is read. The frame is
    /// Workday's: `Name_Detail_Data` (`PersonNameDetailDataType` in
    /// ../shared/reference's v31.2 element tree) opens with
    /// `Country_Reference`, then `First_Name`. What the tests put `inside`
    /// is not a Workday shape on purpose: it is markup the raw-byte skip must
    /// step over exactly, and the translation never reads it (the assertions
    /// are on `First_Name` only).
    fn with_unread(inside: &str) -> String {
        format!(
            "<wd:Envelope xmlns:wd=\"urn:com.workday/bsvc\"><wd:Response_Results><wd:Total_Results>1</wd:Total_Results></wd:Response_Results><wd:Worker><wd:Worker_Data><wd:Personal_Data><wd:Name_Data><wd:Legal_Name_Data><wd:Name_Detail_Data><wd:Country_Reference wd:Descriptor=\"a > b\">{inside}</wd:Country_Reference><wd:First_Name>Ann</wd:First_Name></wd:Name_Detail_Data></wd:Legal_Name_Data></wd:Name_Data></wd:Personal_Data></wd:Worker_Data></wd:Worker></wd:Envelope>"
        )
    }

    #[test]
    fn skipped_subtrees_end_where_their_element_closes() {
        for inside in [
            "",
            "<wd:ID wd:type=\"X\">IE</wd:ID>",
            // Nested elements of the same name, open and self-closing, with
            // a `>` and a `/>` inside quoted attribute values.
            "<wd:Country_Reference a=\"x>\"><wd:Country_Reference/></wd:Country_Reference>",
            "<wd:Country_Reference a='/>'><wd:Country_Reference b=\"1\" /></wd:Country_Reference >",
            // Longer names that start with the same name, text naming it.
            "<wd:Country_Reference_ID>1</wd:Country_Reference_ID>wd:Country_Reference",
            // Another prefix: not the same name.
            "<x:Country_Reference xmlns:x=\"urn:x\">1</x:Country_Reference>",
            // Markup the byte search leaves to quick-xml.
            "<!-- </wd:Country_Reference> -->",
            "<![CDATA[</wd:Country_Reference>]]>",
            "<?pi </wd:Country_Reference> ?>",
        ] {
            let body = with_unread(inside);
            assert_eq!(
                workers(&body).map(|p| match p {
                    Parsed::Page { records, .. } => records[0].to_json(),
                    Parsed::Fault { .. } => Json::Null,
                }),
                Ok(json!({"firstName": "Ann"})),
                "{inside}"
            );
        }
    }

    #[test]
    fn end_tag_is_found_in_the_raw_bytes_only_when_that_is_exact() {
        let finder = Finder::new(b"wd:R");
        let end = |body: &str| end_tag(body.as_bytes(), 0, &finder);
        assert_eq!(end("a</wd:R>"), Some(1));
        assert_eq!(end("<wd:R>x</wd:R></wd:R>"), Some(14));
        assert_eq!(end("<wd:R/><wd:R a=\"/>\"/></wd:R\n>"), Some(21));
        assert_eq!(end("<wd:RX></wd:RX></wd:R>"), Some(15));
        // Comments, CDATA and processing instructions: quick-xml reads them.
        assert_eq!(end("<!--x--></wd:R>"), None);
        assert_eq!(end("<![CDATA[x]]></wd:R>"), None);
        assert_eq!(end("<?x?></wd:R>"), None);
        // The body ends first: quick-xml says so.
        assert_eq!(end("<wd:R></wd:R>"), None);
        assert_eq!(end("<wd:R a=\"></wd:R>"), None);
    }

    #[test]
    fn a_body_cut_inside_a_skipped_subtree_is_an_error() {
        let whole = with_unread("<wd:ID wd:type=\"X\">IE</wd:ID>");
        let cut = &whole[..whole.find("IE").unwrap()];
        let err = workers(cut).unwrap_err();
        assert!(err.starts_with("the XML is malformed at byte"), "{err}");
        // An end tag that does not close what the skipped element's parent
        // opened is caught after the skip too.
        let bad = whole.replace("</wd:Name_Detail_Data>", "</wd:Legal_Name_Data>");
        let err = workers(&bad).unwrap_err();
        assert!(err.starts_with("the XML is malformed at byte"), "{err}");
    }

    #[test]
    fn entities_are_found_in_each_text_and_tag_in_document_order() {
        let body = "a&amp;b <x y=\"&lt;\"> c &#49;";
        let mut entities = Entities::of(body);
        let part = |from: usize, len: usize| &body.as_bytes()[from..from + len];
        // In document order: "a&amp;b", " ", the tag, " c ", "&#49;".
        assert!(entities.in_part(body, part(0, 7)));
        assert!(!entities.in_part(body, part(7, 1)));
        assert!(entities.in_part(body, part(9, 10)));
        assert!(!entities.in_part(body, part(20, 3)));
        assert!(entities.in_part(body, part(23, 5)));
        // A part that is not a slice of the body may hold one.
        assert!(Entities::of(body).in_part(body, b"c"));
        assert!(!Entities::of("plain").in_part("plain", &"plain".as_bytes()[1..3]));
    }

    #[test]
    fn entities_are_unescaped_before_and_after_skipped_subtrees_and_in_attributes() {
        // The skipped `Country_Reference` holds entities the reader jumps
        // over; the attribute and texts around it are read. The shapes are
        // Workday's (../shared/reference's v31.2 element tree):
        // `Preferred_Name_Data/Name_Detail_Data` with its `Formatted_Name`
        // attribute, then `Country_Reference`, `First_Name`, `Last_Name`.
        let body = with_unread("<wd:ID wd:type=\"X\">A&amp;B</wd:ID>")
            .replace(
                "<wd:Name_Detail_Data>",
                "<wd:Name_Detail_Data wd:Formatted_Name=\"&lt;A&gt;\">",
            )
            .replace(
                "<wd:First_Name>Ann</wd:First_Name>",
                "<wd:First_Name>&amp;Ann</wd:First_Name><wd:Last_Name>O&apos;</wd:Last_Name>",
            )
            .replace("<wd:Legal_Name_Data>", "<wd:Preferred_Name_Data>")
            .replace("</wd:Legal_Name_Data>", "</wd:Preferred_Name_Data>");
        let Parsed::Page { records, .. } = workers(&body).unwrap() else {
            panic!("a fault")
        };
        assert_eq!(
            records[0].to_json(),
            json!({"preferredName": "&Ann"}),
            "{body}"
        );
        // Its Formatted_Name is read (unescaped) when it has no First_Name.
        let no_first = body.replace("<wd:First_Name>&amp;Ann</wd:First_Name>", "");
        let Parsed::Page { records, .. } = workers(&no_first).unwrap() else {
            panic!("a fault")
        };
        assert_eq!(records[0].to_json(), json!({"preferredName": "<A>"}));
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
        let records: Vec<Json> = records.iter().map(SoapRecord::to_json).collect();
        assert!(records[0].get("parentOrganization").is_none());
        assert!(records[1..]
            .iter()
            .all(|r| r["parentOrganization"]["id"].is_string()));
        assert!(records.iter().all(|r| r["inactive"] == json!(false)));
    }
}
