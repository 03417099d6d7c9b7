//! `Get_Organizations`: the supervisory organizations, as of the read, with
//! their manager, roles and hierarchy (top-level and superior organization;
//! subordinates are not listed).

use super::super::txlog::Subject;
use super::dates::WireDateTime;
use super::envelope;
use super::request::OrgsQuery;
use super::view::{AsOf, OrgInfo};
use super::workers::{org_reference, response_head, worker_reference};
use super::xml::Xml;

/// The org indices the query selects, in API order.
pub(crate) fn select(v: &AsOf<'_>, q: &OrgsQuery) -> Vec<usize> {
    if !q.supervisory {
        return Vec::new();
    }
    (0..v.t.org_count())
        .filter(|&j| {
            let subject = Subject::Org(j);
            let logged = v.log.touched(subject);
            // Only an update can make an org inactive, and updates are logged.
            if !q.include_inactive && logged && v.org(j).inactive {
                return false;
            }
            if q.windows.is_empty() {
                return true;
            }
            if logged {
                v.log
                    .of(subject)
                    .filter(|e| e.entered <= v.entry)
                    .any(|e| q.windows.iter().any(|w| w.contains(e.entered, e.effective)))
            } else {
                let u = v.t.org_updated(j);
                u <= v.entry && q.windows.iter().any(|w| w.contains(u, u))
            }
        })
        .collect()
}

fn org_ref(x: &mut Xml, name: &'static str, o: &OrgInfo) {
    org_reference(x, name, &o.name, &o.wid, o.code.as_deref());
}

fn manager_reference(x: &mut Xml, name: &'static str, o: &OrgInfo) {
    if let Some(m) = &o.manager {
        worker_reference(x, name, m);
    }
}

fn organization(x: &mut Xml, v: &AsOf<'_>, q: &OrgsQuery, j: usize) {
    let o = v.org(j);
    x.open("Organization");
    org_ref(x, "Organization_Reference", &o);
    x.open("Organization_Data");
    if let Some(c) = &o.code {
        x.leaf("Reference_ID", c);
    }
    x.leaf("Name", &o.name);
    if let Some(c) = &o.code {
        x.leaf("Organization_Code", c);
    }
    x.flag("Include_Manager_in_Name", false);
    x.reference(
        "Organization_Type_Reference",
        Some("Supervisory"),
        &[("Organization_Type_ID", "SUPERVISORY")],
    );
    if let Some(u) = o.updated {
        x.leaf_fmt("Last_Updated_DateTime", format_args!("{}", WireDateTime(u)));
    }
    x.flag("Inactive", o.inactive);
    manager_reference(x, "Manager_Reference", &o);
    if q.roles {
        x.open("Roles_Data");
        if o.manager.is_some() {
            x.open("Organization_Role_Data");
            x.reference(
                "Role_Reference",
                Some("Manager"),
                &[("Organization_Role_ID", "Manager")],
            );
            manager_reference(x, "Worker_Reference", &o);
            x.close();
        }
        x.close();
    }
    if q.hierarchy {
        x.open("Hierarchy_Data");
        org_ref(x, "Top-Level_Organization_Reference", &v.org(v.top(j)));
        if let Some(p) = o.parent {
            org_ref(x, "Superior_Organization_Reference", &v.org(p));
        }
        x.close();
    }
    x.close();
    x.close();
}

/// The whole `Get_Organizations_Response` envelope.
pub(crate) fn response(v: &AsOf<'_>, q: &OrgsQuery, selected: &[usize], version: &str) -> Vec<u8> {
    let count = q.filter.count;
    let start = (q.filter.page - 1)
        .saturating_mul(count)
        .min(selected.len());
    let end = start.saturating_add(count).min(selected.len());
    let page = &selected[start..end];
    let mut x = Xml::with_capacity(page.len() * 2048 + 2048);
    envelope::open_response(
        &mut x,
        "Get_Organizations_Response",
        "GetOrganizationsResponseType",
        version,
    );
    response_head(
        &mut x,
        q.echo_criteria.as_ref(),
        &q.filter,
        q.echo_group.as_ref(),
        selected.len(),
        page.len(),
    );
    if !page.is_empty() {
        x.open("Response_Data");
        for &j in page {
            organization(&mut x, v, q, j);
        }
        x.close();
    }
    envelope::close_response(&mut x);
    x.into_bytes()
}
