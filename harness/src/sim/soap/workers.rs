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
use serde_json::Value;

use super::dates::{fmt_date, fmt_datetime};
use super::request::WorkersQuery;
use super::view::{is_contingent, r, s, AsOf, WorkerRef};
use super::xml::El;

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
pub(crate) fn has_second_job(idx: u32, rec: &Value) -> bool {
    idx % 53 == 7
        && !is_contingent(rec)
        && rec.get("isManager").and_then(Value::as_bool) != Some(true)
}

fn worker_reference(name: &'static str, w: &WorkerRef) -> El {
    let mut ids: Vec<(&str, &str)> = vec![("WID", &w.wid)];
    if let Some(n) = &w.number {
        ids.push((w.id_type, n));
    }
    El::reference(name, Some(&w.name), &ids)
}

fn name_detail(first: Option<&str>, last: Option<&str>, country: Option<&str>) -> El {
    let formatted = match (first, last) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(x), None) | (None, Some(x)) => x.to_string(),
        (None, None) => String::new(),
    };
    let reporting = match (first, last) {
        (Some(f), Some(l)) => format!("{l}, {f}"),
        _ => formatted.clone(),
    };
    El::new("Name_Detail_Data")
        .attr("Formatted_Name", formatted)
        .attr("Reporting_Name", reporting)
        .child(El::reference(
            "Country_Reference",
            None,
            &[("ISO_3166-1_Alpha-2_Code", country.unwrap_or("US"))],
        ))
        .opt(first.map(|f| El::text("First_Name", f)))
        .opt(last.map(|l| El::text("Last_Name", l)))
}

fn usage(kind: &str, primary: bool) -> El {
    El::new("Usage_Data").attr("Public", "1").child(
        El::new("Type_Data")
            .attr("Primary", if primary { "1" } else { "0" })
            .child(El::reference(
                "Type_Reference",
                Some(if kind == "WORK" { "Work" } else { "Home" }),
                &[("Communication_Usage_Type_ID", kind)],
            )),
    )
}

fn phone(number: &str, device: &str, kind: &str, primary: bool) -> El {
    let (code, rest) = number
        .strip_prefix('+')
        .and_then(|n| n.split_once(' '))
        .unwrap_or(("", number));
    El::new("Phone_Data")
        .attr("International_Formatted_Phone", number)
        .opt((!code.is_empty()).then(|| El::text("International_Phone_Code", code)))
        .child(El::text("Phone_Number", rest))
        .child(El::reference(
            "Phone_Device_Type_Reference",
            Some(device),
            &[("Phone_Device_Type_ID", device)],
        ))
        .child(usage(kind, primary))
}

fn org_membership(wid: &str, name: &str, code: Option<&str>, ty: &str, type_name: &str) -> El {
    let mut ids: Vec<(&str, &str)> = vec![("WID", wid)];
    if let Some(c) = code {
        ids.push(("Organization_Reference_ID", c));
    }
    El::new("Worker_Organization_Data")
        .child(El::reference("Organization_Reference", Some(name), &ids))
        .child(
            El::new("Organization_Data")
                .opt(code.map(|c| El::text("Organization_Reference_ID", c)))
                .opt(code.map(|c| El::text("Organization_Code", c)))
                .child(El::text("Organization_Name", name))
                .child(El::reference(
                    "Organization_Type_Reference",
                    Some(type_name),
                    &[("Organization_Type_ID", ty)],
                )),
        )
}

/// A WID-like id for a company, derived from its code.
fn company_wid(seed: u64, code: &str) -> String {
    let mut h = seed ^ 0x0063_6f6d_7061_6e79;
    for b in code.bytes() {
        h = super::super::ids::mix64(h ^ u64::from(b));
    }
    format!("{h:016x}{:016x}", super::super::ids::mix64(h))
}

/// One `Worker` element (`bad`: the fault-injected malformed record).
pub(crate) fn worker(v: &AsOf<'_>, q: &WorkersQuery, idx: u32, rec: &Value, bad: bool) -> El {
    let wid = s(rec, "id").unwrap_or_default();
    let name = s(rec, "descriptor").unwrap_or_default();
    let contingent = is_contingent(rec);
    let number = s(rec, "employeeNumber");
    let me = WorkerRef {
        wid: wid.to_string(),
        name: name.to_string(),
        id_type: if contingent {
            "Contingent_Worker_ID"
        } else {
            "Employee_ID"
        },
        number: number.map(str::to_string),
    };
    let mut data = El::new("Worker_Data").opt(number.map(|n| El::text("Worker_ID", n)));
    let country = s(rec, "country");
    if q.personal {
        let first = s(rec, "firstName");
        let last = s(rec, "lastName");
        let names = El::new("Name_Data")
            .child(El::new("Legal_Name_Data").child(name_detail(first, last, country)))
            .opt(s(rec, "preferredName").map(|p| {
                El::new("Preferred_Name_Data").child(name_detail(Some(p), last, country))
            }));
        let mut contact = El::new("Contact_Data");
        if let Some(p) = s(rec, "workPhone") {
            contact.push(phone(p, "Landline", "WORK", true));
        }
        if let Some(p) = s(rec, "mobilePhone") {
            contact.push(phone(p, "Mobile", "HOME", true));
        }
        if let Some(e) = s(rec, "workEmail") {
            contact.push(
                El::new("Email_Address_Data")
                    .child(El::text("Email_Address", e))
                    .child(usage("WORK", true)),
            );
        }
        data.push(El::new("Personal_Data").child(names).child(contact));
    }
    let hire = AsOf::date(rec, "hireDate");
    if q.employment {
        let mut emp = El::new("Employment_Data");
        let mut pos = El::new("Position_Data")
            .opt(number.map(|n| El::text("Position_ID", format!("P-{n}"))))
            .opt(s(rec, "jobTitle").map(|t| El::text("Position_Title", t)))
            .opt(s(rec, "businessTitle").map(|t| El::text("Business_Title", t)));
        if let Some(h) = hire {
            pos = pos.attr("Effective_Date", fmt_date(h));
        }
        if let Some((id, d)) = r(rec, "jobProfile") {
            pos.push(
                El::new("Job_Profile_Summary_Data")
                    .child(El::reference("Job_Profile_Reference", d, &[("WID", id)]))
                    .opt(d.map(|d| El::text("Job_Profile_Name", d))),
            );
        }
        if let Some((id, d)) = r(rec, "location") {
            let mut ids = vec![("WID", id)];
            if let Some(code) = s(rec, "locationCode") {
                ids.push(("Location_ID", code));
            }
            pos.push(
                El::new("Business_Site_Summary_Data")
                    .child(El::reference("Location_Reference", d, &ids))
                    .opt(d.map(|d| El::text("Name", d))),
            );
        }
        emp.push(
            El::new("Worker_Job_Data")
                .attr("Primary_Job", "1")
                .child(pos),
        );
        if has_second_job(idx, rec) {
            emp.push(
                El::new("Worker_Job_Data").attr("Primary_Job", "0").child(
                    El::new("Position_Data")
                        .opt(number.map(|n| El::text("Position_ID", format!("P-{n}-2"))))
                        .child(El::text("Position_Title", "Adjunct Instructor"))
                        .child(El::text("Business_Title", "Adjunct Instructor")),
                ),
            );
        }
        let status = s(rec, "employmentStatus");
        let pending = v.pending_hire(idx) || hire.is_some_and(|h| h > v.effective);
        let mut st = El::new("Worker_Status_Data");
        if bad {
            st.push(El::text("Active", "maybe"));
            st.push(El::text("Hire_Date", "soon"));
        } else {
            if let Some(status) = status {
                st.push(El::flag("Active", status != "Terminated" && !pending));
            }
            if let Some(h) = hire {
                st.push(El::text("Hire_Date", fmt_date(h)));
            }
        }
        if let Some(status) = status {
            st.push(El::flag("Terminated", status == "Terminated"));
        }
        if let Some(t) = AsOf::date(rec, "terminationDate") {
            st.push(El::text("Termination_Date", fmt_date(t)));
        }
        st.push(El::flag("Hire_Rescinded", false));
        if status == Some("On Leave") {
            let start = s(rec, "lastUpdatedDateTime")
                .and_then(|d| d.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            st.push(
                El::new("Leave_Status_Data")
                    .child(El::flag("On_Leave", true))
                    .opt(start.map(|d| El::text("Leave_Start_Date", fmt_date(d)))),
            );
        }
        emp.push(st);
        data.push(emp);
    }
    let org = r(rec, "primarySupervisoryOrganization")
        .or_else(|| r(rec, "primaryWorkerSupervisoryOrganization"))
        .and_then(|(id, _)| v.t.org_index(id));
    if q.organizations {
        let mut orgs = El::new("Organization_Data");
        if let Some(j) = org {
            let o = v.org(j);
            orgs.push(org_membership(
                &o.wid,
                &o.name,
                o.code.as_deref(),
                "SUPERVISORY",
                "Supervisory",
            ));
        }
        if let Some((id, d)) = r(rec, "costCenter") {
            orgs.push(org_membership(
                id,
                d.unwrap_or_default(),
                s(rec, "costCenterCode"),
                "COST_CENTER",
                "Cost Center",
            ));
        }
        if let Some(code) = s(rec, "companyCode") {
            orgs.push(org_membership(
                &company_wid(v.t.opts.seed, code),
                s(rec, "legalEntity").unwrap_or(code),
                Some(code),
                "COMPANY",
                "Company",
            ));
        }
        data.push(orgs);
    }
    if q.management_chain {
        if let Some(j) = org {
            // The same for everyone in the org: rendered once per snapshot.
            let xml = v.chain_xml(j, || {
                let mut chain = El::new("Worker_Supervisory_Management_Chain_Data");
                for o in v.chain(j) {
                    let mut ids = vec![("WID", o.wid.as_str())];
                    if let Some(c) = &o.code {
                        ids.push(("Organization_Reference_ID", c));
                    }
                    chain.push(
                        El::new("Management_Chain_Data")
                            .child(El::reference("Organization_Reference", Some(&o.name), &ids))
                            .opt(
                                o.manager
                                    .as_ref()
                                    .map(|m| worker_reference("Manager_Reference", m)),
                            ),
                    );
                }
                let mut out = String::with_capacity(2048);
                chain.write("WorkerSupervisoryManagementChainDataType", &mut out);
                out
            });
            data.push(
                El::new("Management_Chain_Data")
                    .child(El::raw("Worker_Supervisory_Management_Chain_Data", xml)),
            );
        }
    }
    El::new("Worker")
        .opt(
            q.reference
                .then(|| worker_reference("Worker_Reference", &me)),
        )
        .child(El::text("Worker_Descriptor", name))
        .child(data)
}

/// The `Response_Filter` echo Workday sends back (with its defaults).
pub(crate) fn filter_echo(f: &super::request::Filter) -> El {
    El::new("Response_Filter")
        .child(El::text(
            "As_Of_Effective_Date",
            fmt_date(f.as_of_effective),
        ))
        .child(El::text(
            "As_Of_Entry_DateTime",
            fmt_datetime(f.as_of_entry),
        ))
        .child(El::text("Page", f.page.to_string()))
        .child(El::text("Count", f.count.to_string()))
}

/// `Response_Results` for `total` results, page `page` of `count`.
pub(crate) fn results(total: usize, count: usize, page: usize, on_page: usize) -> El {
    El::new("Response_Results")
        .child(El::text("Total_Results", total.to_string()))
        .child(El::text("Total_Pages", total.div_ceil(count).to_string()))
        .child(El::text("Page_Results", on_page.to_string()))
        .child(El::text("Page", page.to_string()))
}

/// The whole `Get_Workers_Response` element for the selected indices.
pub(crate) fn response(
    v: &AsOf<'_>,
    q: &WorkersQuery,
    selected: &[u32],
    version: &str,
    bad: bool,
) -> String {
    let count = q.filter.count;
    let start = (q.filter.page - 1)
        .saturating_mul(count)
        .min(selected.len());
    let end = start.saturating_add(count).min(selected.len());
    let mut data = El::new("Response_Data");
    let mut n = 0;
    for &i in &selected[start..end] {
        if let Some(rec) = v.worker(i) {
            data.push(worker(v, q, i, &rec, bad && n == 0));
            n += 1;
        }
    }
    let el = El::new("Get_Workers_Response")
        .attr("version", version)
        .opt(q.echo_criteria.clone())
        .child(filter_echo(&q.filter))
        .opt(q.echo_group.clone())
        .child(results(selected.len(), count, q.filter.page, n))
        .opt((n > 0).then_some(data));
    let mut out = String::with_capacity(n * 4096 + 1024);
    el.write("GetWorkersResponseType", &mut out);
    out
}
