//! `Get_Organizations`: the supervisory organizations, as of the read, with
//! their manager, roles and hierarchy (top-level and superior organization;
//! subordinates are not listed).

use super::super::txlog::Subject;
use super::dates::fmt_datetime;
use super::request::OrgsQuery;
use super::view::{AsOf, OrgInfo};
use super::workers::{filter_echo, results};
use super::xml::El;

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

fn org_ref(name: &'static str, o: &OrgInfo) -> El {
    let mut ids = vec![("WID", o.wid.as_str())];
    if let Some(c) = &o.code {
        ids.push(("Organization_Reference_ID", c));
    }
    El::reference(name, Some(&o.name), &ids)
}

fn organization(v: &AsOf<'_>, q: &OrgsQuery, j: usize) -> El {
    let o = v.org(j);
    let manager = o.manager.as_ref().map(|m| {
        let mut ids = vec![("WID", m.wid.as_str())];
        if let Some(n) = &m.number {
            ids.push((m.id_type, n));
        }
        (m.name.as_str(), ids)
    });
    let mut data = El::new("Organization_Data")
        .opt(o.code.as_ref().map(|c| El::text("Reference_ID", c.clone())))
        .child(El::text("Name", o.name.clone()))
        .opt(
            o.code
                .as_ref()
                .map(|c| El::text("Organization_Code", c.clone())),
        )
        .child(El::flag("Include_Manager_in_Name", false))
        .child(El::reference(
            "Organization_Type_Reference",
            Some("Supervisory"),
            &[("Organization_Type_ID", "SUPERVISORY")],
        ))
        .opt(
            o.updated
                .map(|u| El::text("Last_Updated_DateTime", fmt_datetime(u))),
        )
        .child(El::flag("Inactive", o.inactive))
        .opt(
            manager
                .as_ref()
                .map(|(n, ids)| El::reference("Manager_Reference", Some(n), ids)),
        );
    if q.roles {
        let mut roles = El::new("Roles_Data");
        if let Some((n, ids)) = &manager {
            roles.push(
                El::new("Organization_Role_Data")
                    .child(El::reference(
                        "Role_Reference",
                        Some("Manager"),
                        &[("Organization_Role_ID", "Manager")],
                    ))
                    .child(El::reference("Worker_Reference", Some(n), ids)),
            );
        }
        data.push(roles);
    }
    if q.hierarchy {
        let chain = v.chain(j);
        let mut h = El::new("Hierarchy_Data");
        if let Some(top) = chain.first() {
            h.push(org_ref("Top-Level_Organization_Reference", top));
        }
        if let Some(p) = o.parent {
            h.push(org_ref("Superior_Organization_Reference", &v.org(p)));
        }
        data.push(h);
    }
    El::new("Organization")
        .child(org_ref("Organization_Reference", &o))
        .child(data)
}

/// The whole `Get_Organizations_Response` element.
pub(crate) fn response(v: &AsOf<'_>, q: &OrgsQuery, selected: &[usize], version: &str) -> String {
    let count = q.filter.count;
    let start = (q.filter.page - 1)
        .saturating_mul(count)
        .min(selected.len());
    let end = start.saturating_add(count).min(selected.len());
    let page = &selected[start..end];
    let mut data = El::new("Response_Data");
    for &j in page {
        data.push(organization(v, q, j));
    }
    let el = El::new("Get_Organizations_Response")
        .attr("version", version)
        .opt(q.echo_criteria.clone())
        .child(filter_echo(&q.filter))
        .opt(q.echo_group.clone())
        .child(results(selected.len(), count, q.filter.page, page.len()))
        .opt((!page.is_empty()).then_some(data));
    let mut out = String::with_capacity(page.len() * 2048 + 1024);
    el.write("GetOrganizationsResponseType", &mut out);
    out
}
