//! `Get_Workers`: selection (as of, filters, transaction-log windows),
//! paging and the `Worker` elements.
//!
//! Generated variety beyond the REST records: every 53rd worker (index
//! `≡ 7 mod 53`) who is neither a manager nor a contingent worker holds a
//! second, non-primary job ("Adjunct Instructor"). Everything else comes
//! from the REST record: contingent workers, terminations, leaves, and org
//! managers who are members of the org they manage (so their own
//! management chain ends with themselves).

use chrono::NaiveDate;

use super::dates::{WireDate, WireDateTime};
use super::envelope;
use super::record::WorkerRec;
use super::request::{Filter, WorkersQuery};
use super::view::{AsOf, OrgInfo, WorkerRef};
use super::xml::{Node, Xml};

/// The live worker indices the query selects, in API order.
pub(crate) fn select(v: &AsOf<'_>, q: &WorkersQuery) -> Vec<u32> {
    v.t.live_workers()
        .filter(|&i| {
            v.selects(
                i,
                q.exclude_inactive,
                q.exclude_employees,
                q.exclude_contingent,
                &q.windows,
            )
        })
        .collect()
}

/// Whether worker `idx` has a second job.
pub(crate) fn has_second_job(idx: u32, rec: &WorkerRec<'_>) -> bool {
    idx % 53 == 7 && !rec.contingent() && rec.is_manager.0 != Some(true)
}

pub(crate) fn worker_reference(x: &mut Xml, name: &'static str, w: &WorkerRef) {
    match &w.number {
        Some(n) => x.reference(name, Some(&w.name), &[("WID", &w.wid), (w.id_type, n)]),
        None => x.reference(name, Some(&w.name), &[("WID", &w.wid)]),
    }
}

/// An org reference: its WID and, when it has one, its code.
pub(crate) fn org_reference(
    x: &mut Xml,
    name: &'static str,
    descriptor: &str,
    wid: &str,
    code: Option<&str>,
) {
    match code {
        Some(c) => x.reference(
            name,
            Some(descriptor),
            &[("WID", wid), ("Organization_Reference_ID", c)],
        ),
        None => x.reference(name, Some(descriptor), &[("WID", wid)]),
    }
}

/// `Formatted_Name`: "First Last", or whichever part there is.
fn formatted_name(first: Option<&str>, last: Option<&str>, out: &mut String) {
    out.clear();
    match (first, last) {
        (Some(f), Some(l)) => {
            out.push_str(f);
            out.push(' ');
            out.push_str(l);
        }
        (Some(x), None) | (None, Some(x)) => out.push_str(x),
        (None, None) => {}
    }
}

fn name_detail(x: &mut Xml, first: Option<&str>, last: Option<&str>, country: Option<&str>) {
    let mut name = String::new();
    formatted_name(first, last, &mut name);
    x.open("Name_Detail_Data").attr("Formatted_Name", &name);
    if let (Some(f), Some(l)) = (first, last) {
        // `Reporting_Name`: "Last, First".
        name.clear();
        name.push_str(l);
        name.push_str(", ");
        name.push_str(f);
    }
    x.attr("Reporting_Name", &name);
    x.reference(
        "Country_Reference",
        None,
        &[("ISO_3166-1_Alpha-2_Code", country.unwrap_or("US"))],
    );
    if let Some(f) = first {
        x.leaf("First_Name", f);
    }
    if let Some(l) = last {
        x.leaf("Last_Name", l);
    }
    x.close();
}

fn usage(x: &mut Xml, kind: &str, primary: bool) {
    x.open("Usage_Data").attr("Public", "1");
    x.open("Type_Data")
        .attr("Primary", if primary { "1" } else { "0" });
    x.reference(
        "Type_Reference",
        Some(if kind == "WORK" { "Work" } else { "Home" }),
        &[("Communication_Usage_Type_ID", kind)],
    );
    x.close();
    x.close();
}

fn phone(x: &mut Xml, number: &str, device: &str, kind: &str, primary: bool) {
    let (code, rest) = number
        .strip_prefix('+')
        .and_then(|n| n.split_once(' '))
        .unwrap_or(("", number));
    x.open("Phone_Data")
        .attr("International_Formatted_Phone", number);
    if !code.is_empty() {
        x.leaf("International_Phone_Code", code);
    }
    x.leaf("Phone_Number", rest);
    x.reference(
        "Phone_Device_Type_Reference",
        Some(device),
        &[("Phone_Device_Type_ID", device)],
    );
    usage(x, kind, primary);
    x.close();
}

fn org_membership(
    x: &mut Xml,
    wid: &str,
    name: &str,
    code: Option<&str>,
    ty: &str,
    type_name: &str,
) {
    x.open("Worker_Organization_Data");
    org_reference(x, "Organization_Reference", name, wid, code);
    x.open("Organization_Data");
    if let Some(c) = code {
        x.leaf("Organization_Reference_ID", c);
        x.leaf("Organization_Code", c);
    }
    x.leaf("Organization_Name", name);
    x.reference(
        "Organization_Type_Reference",
        Some(type_name),
        &[("Organization_Type_ID", ty)],
    );
    x.close();
    x.close();
}

/// A WID-like id for a company, derived from its code.
fn company_wid(seed: u64, code: &str) -> String {
    let mut h = seed ^ 0x0063_6f6d_7061_6e79;
    for b in code.bytes() {
        h = super::super::ids::mix64(h ^ u64::from(b));
    }
    format!("{h:016x}{:016x}", super::super::ids::mix64(h))
}

/// Writes one `Management_Chain_Data` level: the org and its manager.
fn chain_level(x: &mut Xml, o: &OrgInfo) {
    x.open("Management_Chain_Data");
    org_reference(
        x,
        "Organization_Reference",
        &o.name,
        &o.wid,
        o.code.as_deref(),
    );
    if let Some(m) = &o.manager {
        worker_reference(x, "Manager_Reference", m);
    }
    x.close();
}

/// Scratch space one page's workers share.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    chain: Vec<usize>,
}

/// Writes one `Worker` element (`bad`: the fault-injected malformed record).
pub(crate) fn worker(
    x: &mut Xml,
    v: &AsOf<'_>,
    q: &WorkersQuery,
    idx: u32,
    rec: &WorkerRec<'_>,
    bad: bool,
    scratch: &mut Scratch,
) {
    let wid = rec.id.get().unwrap_or_default();
    let name = rec.descriptor.get().unwrap_or_default();
    let contingent = rec.contingent();
    let number = rec.employee_number.get();
    let id_type = if contingent {
        "Contingent_Worker_ID"
    } else {
        "Employee_ID"
    };
    x.open("Worker");
    if q.reference {
        let ids = [("WID", wid), (id_type, number.unwrap_or_default())];
        let n = if number.is_some() { 2 } else { 1 };
        x.reference("Worker_Reference", Some(name), &ids[..n]);
    }
    x.leaf("Worker_Descriptor", name);
    x.open("Worker_Data");
    if let Some(n) = number {
        x.leaf("Worker_ID", n);
    }
    let country = rec.country.get();
    if q.personal {
        let first = rec.first_name.get();
        let last = rec.last_name.get();
        x.open("Personal_Data");
        x.open("Name_Data");
        x.open("Legal_Name_Data");
        name_detail(x, first, last, country);
        x.close();
        if let Some(p) = rec.preferred_name.get() {
            x.open("Preferred_Name_Data");
            name_detail(x, Some(p), last, country);
            x.close();
        }
        x.close();
        x.open("Contact_Data");
        if let Some(p) = rec.work_phone.get() {
            phone(x, p, "Landline", "WORK", true);
        }
        if let Some(p) = rec.mobile_phone.get() {
            phone(x, p, "Mobile", "HOME", true);
        }
        if let Some(e) = rec.work_email.get() {
            x.open("Email_Address_Data");
            x.leaf("Email_Address", e);
            usage(x, "WORK", true);
            x.close();
        }
        x.close();
        x.close();
    }
    let hire = WorkerRec::date(&rec.hire_date);
    if q.employment {
        x.open("Employment_Data");
        x.open("Worker_Job_Data").attr("Primary_Job", "1");
        x.open("Position_Data");
        if let Some(h) = hire {
            x.attr_fmt("Effective_Date", format_args!("{}", WireDate(h)));
        }
        if let Some(n) = number {
            x.leaf_fmt("Position_ID", format_args!("P-{n}"));
        }
        if let Some(t) = rec.job_title.get() {
            x.leaf("Position_Title", t);
        }
        if let Some(t) = rec.business_title.get() {
            x.leaf("Business_Title", t);
        }
        if let Some((id, d)) = rec.job_profile.get() {
            x.open("Job_Profile_Summary_Data");
            x.reference("Job_Profile_Reference", d, &[("WID", id)]);
            if let Some(d) = d {
                x.leaf("Job_Profile_Name", d);
            }
            x.close();
        }
        if let Some((id, d)) = rec.location.get() {
            x.open("Business_Site_Summary_Data");
            match rec.location_code.get() {
                Some(code) => {
                    x.reference(
                        "Location_Reference",
                        d,
                        &[("WID", id), ("Location_ID", code)],
                    );
                }
                None => x.reference("Location_Reference", d, &[("WID", id)]),
            }
            if let Some(d) = d {
                x.leaf("Name", d);
            }
            x.close();
        }
        x.close();
        x.close();
        if has_second_job(idx, rec) {
            x.open("Worker_Job_Data").attr("Primary_Job", "0");
            x.open("Position_Data");
            if let Some(n) = number {
                x.leaf_fmt("Position_ID", format_args!("P-{n}-2"));
            }
            x.leaf("Position_Title", "Adjunct Instructor");
            x.leaf("Business_Title", "Adjunct Instructor");
            x.close();
            x.close();
        }
        let status = rec.employment_status.get();
        let pending = v.pending_hire(idx) || hire.is_some_and(|h| h > v.effective);
        x.open("Worker_Status_Data");
        if bad {
            x.leaf("Active", "maybe");
            x.leaf("Hire_Date", "soon");
        } else {
            if let Some(status) = status {
                x.flag("Active", status != "Terminated" && !pending);
            }
            if let Some(h) = hire {
                x.leaf_fmt("Hire_Date", format_args!("{}", WireDate(h)));
            }
        }
        if let Some(status) = status {
            x.flag("Terminated", status == "Terminated");
        }
        if let Some(t) = WorkerRec::date(&rec.termination_date) {
            x.leaf_fmt("Termination_Date", format_args!("{}", WireDate(t)));
        }
        x.flag("Hire_Rescinded", false);
        if status == Some("On Leave") {
            let start = rec
                .last_updated_date_time
                .get()
                .and_then(|d| d.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            x.open("Leave_Status_Data");
            x.flag("On_Leave", true);
            if let Some(d) = start {
                x.leaf_fmt("Leave_Start_Date", format_args!("{}", WireDate(d)));
            }
            x.close();
        }
        x.close();
        x.close();
    }
    let org = rec.supervisory_org().and_then(|id| v.t.org_index(id));
    if q.organizations {
        x.open("Organization_Data");
        if let Some(j) = org {
            let o = v.org(j);
            org_membership(
                x,
                &o.wid,
                &o.name,
                o.code.as_deref(),
                "SUPERVISORY",
                "Supervisory",
            );
        }
        if let Some((id, d)) = rec.cost_center.get() {
            org_membership(
                x,
                id,
                d.unwrap_or_default(),
                rec.cost_center_code.get(),
                "COST_CENTER",
                "Cost Center",
            );
        }
        if let Some(code) = rec.company_code.get() {
            org_membership(
                x,
                &company_wid(v.t.opts.seed, code),
                rec.legal_entity.get().unwrap_or(code),
                Some(code),
                "COMPANY",
                "Company",
            );
        }
        x.close();
    }
    if q.management_chain {
        if let Some(j) = org {
            x.open("Management_Chain_Data");
            x.open("Worker_Supervisory_Management_Chain_Data");
            v.chain(j, &mut scratch.chain);
            for &c in &scratch.chain {
                let o = v.org(c);
                let kept = v.chain_level(&o, || {
                    let mut f = Xml::fragment(768, "WorkerSupervisoryManagementChainDataType");
                    chain_level(&mut f, &o);
                    f.into_bytes().into_boxed_slice()
                });
                match kept {
                    Some(level) => x.rendered("Management_Chain_Data", level),
                    None => chain_level(x, &o),
                }
            }
            x.close();
            x.close();
        }
    }
    x.close();
    x.close();
}

/// Writes the `Response_Filter` echo Workday sends back (with its defaults).
fn filter_echo(x: &mut Xml, f: &Filter) {
    x.open("Response_Filter");
    x.leaf_fmt(
        "As_Of_Effective_Date",
        format_args!("{}", WireDate(f.as_of_effective)),
    );
    x.leaf_fmt(
        "As_Of_Entry_DateTime",
        format_args!("{}", WireDateTime(f.as_of_entry)),
    );
    x.leaf_fmt("Page", format_args!("{}", f.page));
    x.leaf_fmt("Count", format_args!("{}", f.count));
    x.close();
}

/// Writes `Response_Results` for `total` results, page `page` of `count`.
fn results(x: &mut Xml, total: usize, count: usize, page: usize, on_page: usize) {
    x.open("Response_Results");
    x.leaf_fmt("Total_Results", format_args!("{total}"));
    x.leaf_fmt("Total_Pages", format_args!("{}", total.div_ceil(count)));
    x.leaf_fmt("Page_Results", format_args!("{on_page}"));
    x.leaf_fmt("Page", format_args!("{page}"));
    x.close();
}

/// Writes what both responses carry before their data: the request's
/// criteria and response group echoed around the `Response_Filter`, then
/// `Response_Results` for `total` results, `on_page` on this page.
pub(crate) fn response_head(
    x: &mut Xml,
    criteria: Option<&Node>,
    f: &Filter,
    group: Option<&Node>,
    total: usize,
    on_page: usize,
) {
    if let Some(c) = criteria {
        x.echo(c);
    }
    filter_echo(x, f);
    if let Some(g) = group {
        x.echo(g);
    }
    results(x, total, f.count, f.page, on_page);
}

/// The whole response envelope for the selected indices, written into a
/// buffer of `capacity` bytes, and the number of workers on the page.
pub(crate) fn response(
    v: &AsOf<'_>,
    q: &WorkersQuery,
    selected: &[u32],
    version: &str,
    bad: bool,
    capacity: usize,
) -> (Vec<u8>, usize) {
    let count = q.filter.count;
    let start = (q.filter.page - 1)
        .saturating_mul(count)
        .min(selected.len());
    let end = start.saturating_add(count).min(selected.len());
    let page = &selected[start..end];
    // The workers visible to this read (a hire entered after it is not).
    let on_page = page.iter().filter(|&&i| v.visible(i)).count();
    let mut x = Xml::with_capacity(capacity);
    envelope::open_response(
        &mut x,
        "Get_Workers_Response",
        "GetWorkersResponseType",
        version,
    );
    response_head(
        &mut x,
        q.echo_criteria.as_ref(),
        &q.filter,
        q.echo_group.as_ref(),
        selected.len(),
        on_page,
    );
    if on_page > 0 {
        x.open("Response_Data");
        let mut scratch = Scratch::default();
        let mut buf = Vec::with_capacity(2048);
        let mut n = 0;
        for &i in page {
            if let Some(rec) = v.worker(i, &mut buf) {
                worker(&mut x, v, q, i, &rec, bad && n == 0, &mut scratch);
                n += 1;
            }
        }
        x.close();
    }
    envelope::close_response(&mut x);
    (x.into_bytes(), on_page)
}
