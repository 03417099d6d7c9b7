//! What a validated `Get_Workers_Request` or `Get_Organizations_Request`
//! asks for, and the checks Workday makes beyond the schema (`Page` at
//! least 1, `Count` 1..=999, readable dates). Criteria the simulator does
//! not implement are refused with a fault naming them, never ignored.

use chrono::NaiveDate;

use super::dates::{parse_date, parse_date_or_datetime};
use super::schema::Violation;
use super::xml::Node;

/// Workday's largest `Count`.
pub(crate) const MAX_COUNT: usize = 999;
/// Workday's default `Count`.
pub(crate) const DEFAULT_COUNT: usize = 100;

/// Why a request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A `Validation_Fault`.
    Invalid(Violation),
    /// Valid for Workday but not simulated.
    NotSimulated(String),
}

fn invalid(message: String, xpath: String) -> Refusal {
    Refusal::Invalid(Violation { message, xpath })
}

/// `Transaction_Date_Range_Data`: open bounds are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Window {
    pub(crate) updated_from: Option<i64>,
    pub(crate) updated_through: Option<i64>,
    pub(crate) effective_from: Option<i64>,
    pub(crate) effective_through: Option<i64>,
}

impl Window {
    /// Whether a transaction entered at `entered` and effective at
    /// `effective` falls in the window.
    pub(crate) fn contains(&self, entered: i64, effective: i64) -> bool {
        self.updated_from.is_none_or(|f| entered >= f)
            && self.updated_through.is_none_or(|t| entered <= t)
            && self.effective_from.is_none_or(|f| effective >= f)
            && self.effective_through.is_none_or(|t| effective <= t)
    }
}

/// `Response_Filter`, with Workday's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Filter {
    pub(crate) as_of_effective: NaiveDate,
    pub(crate) as_of_entry: i64,
    pub(crate) page: usize,
    pub(crate) count: usize,
}

/// A parsed `Get_Workers_Request`.
#[derive(Debug, Clone)]
pub(crate) struct WorkersQuery {
    pub(crate) exclude_inactive: bool,
    pub(crate) exclude_employees: bool,
    pub(crate) exclude_contingent: bool,
    /// Any of these (empty: no transaction-log filter).
    pub(crate) windows: Vec<Window>,
    pub(crate) filter: Filter,
    pub(crate) reference: bool,
    pub(crate) personal: bool,
    pub(crate) employment: bool,
    pub(crate) organizations: bool,
    pub(crate) management_chain: bool,
    /// The request's `Request_Criteria` and `Response_Group`, echoed.
    pub(crate) echo_criteria: Option<Node>,
    pub(crate) echo_group: Option<Node>,
}

/// A parsed `Get_Organizations_Request`.
#[derive(Debug, Clone)]
pub(crate) struct OrgsQuery {
    /// `false` when the request names organization types none of which is
    /// SUPERVISORY (the simulated tenant has only supervisory orgs).
    pub(crate) supervisory: bool,
    pub(crate) include_inactive: bool,
    pub(crate) windows: Vec<Window>,
    pub(crate) filter: Filter,
    pub(crate) hierarchy: bool,
    pub(crate) roles: bool,
    pub(crate) echo_criteria: Option<Node>,
    pub(crate) echo_group: Option<Node>,
}

fn flag(n: &Node, name: &str) -> Option<bool> {
    n.child_text(name).map(|v| matches!(v, "1" | "true"))
}

fn refuse_unsimulated(n: &Node, supported: &[&str], path: &str) -> Result<(), Refusal> {
    match n
        .children
        .iter()
        .find(|c| !supported.contains(&c.name.as_str()))
    {
        Some(c) => Err(Refusal::NotSimulated(format!("{path}/{}", c.name))),
        None => Ok(()),
    }
}

fn parse_filter(root: &Node, op: &str, now_ms: i64, today: NaiveDate) -> Result<Filter, Refusal> {
    let mut f = Filter {
        as_of_effective: today,
        as_of_entry: now_ms,
        page: 1,
        count: DEFAULT_COUNT,
    };
    let Some(rf) = root.child("Response_Filter") else {
        return Ok(f);
    };
    let xp = |c: &str| format!("/bsvc:{op}[1]/bsvc:Response_Filter[1]/bsvc:{c}[1]");
    if let Some(v) = rf.child_text("As_Of_Effective_Date") {
        f.as_of_effective = parse_date(v)
            .or_else(|| {
                parse_date_or_datetime(v).and_then(|ms| {
                    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
                        .map(|d| d.date_naive())
                })
            })
            .ok_or_else(|| {
                invalid(
                    format!("Invalid date '{v}' for As_Of_Effective_Date"),
                    xp("As_Of_Effective_Date"),
                )
            })?;
    }
    if let Some(v) = rf.child_text("As_Of_Entry_DateTime") {
        f.as_of_entry = parse_date_or_datetime(v).ok_or_else(|| {
            invalid(
                format!("Invalid date-time '{v}' for As_Of_Entry_DateTime"),
                xp("As_Of_Entry_DateTime"),
            )
        })?;
    }
    let whole = |name: &str| -> Result<Option<usize>, Refusal> {
        let Some(v) = rf.child_text(name) else {
            return Ok(None);
        };
        let n: f64 = v.parse().unwrap_or(f64::NAN);
        if n.fract() != 0.0 || !(0.0..=1e12).contains(&n) {
            return Err(invalid(
                format!("{name} must be a whole number, got '{v}'"),
                xp(name),
            ));
        }
        // A whole number in 0..=1e12 fits usize on 64-bit targets.
        Ok(Some(n as usize))
    };
    if let Some(p) = whole("Page")? {
        if p == 0 {
            // Workday's published validation on Response_Filter.
            return Err(invalid("Page number cannot be zero.".into(), xp("Page")));
        }
        f.page = p;
    }
    if let Some(c) = whole("Count")? {
        if !(1..=MAX_COUNT).contains(&c) {
            return Err(invalid(
                format!("Count must be between 1 and {MAX_COUNT}, got {c}."),
                xp("Count"),
            ));
        }
        f.count = c;
    }
    Ok(f)
}

fn parse_windows(criteria: &Node, element: &str, op: &str) -> Result<Vec<Window>, Refusal> {
    let mut out = Vec::new();
    for (i, tl) in criteria.children_named(element).enumerate() {
        let base = format!(
            "/bsvc:{op}[1]/bsvc:Request_Criteria[1]/bsvc:{element}[{}]",
            i + 1
        );
        refuse_unsimulated(tl, &["Transaction_Date_Range_Data"], &base)?;
        let mut w = Window::default();
        if let Some(r) = tl.child("Transaction_Date_Range_Data") {
            for (name, slot) in [
                ("Updated_From", &mut w.updated_from),
                ("Updated_Through", &mut w.updated_through),
                ("Effective_From", &mut w.effective_from),
                ("Effective_Through", &mut w.effective_through),
            ] {
                if let Some(v) = r.child_text(name) {
                    *slot = Some(parse_date_or_datetime(v).ok_or_else(|| {
                        invalid(
                            format!("Invalid date-time '{v}' for {name}"),
                            format!("{base}/bsvc:Transaction_Date_Range_Data[1]/bsvc:{name}[1]"),
                        )
                    })?);
                }
            }
        }
        out.push(w);
    }
    Ok(out)
}

/// The `Response_Filter` of a request that asks by criteria: requests by
/// `Request_References` are not simulated.
fn unreferenced_filter(
    root: &Node,
    op: &str,
    now_ms: i64,
    today: NaiveDate,
) -> Result<Filter, Refusal> {
    if root.child("Request_References").is_some() {
        return Err(Refusal::NotSimulated(format!("/{op}/Request_References")));
    }
    parse_filter(root, op, now_ms, today)
}

/// Reads a `Get_Workers_Request` (already valid against the tree).
pub(crate) fn workers(root: &Node, now_ms: i64, today: NaiveDate) -> Result<WorkersQuery, Refusal> {
    const OP: &str = "Get_Workers_Request";
    let filter = unreferenced_filter(root, OP, now_ms, today)?;
    let mut q = WorkersQuery {
        exclude_inactive: false,
        exclude_employees: false,
        exclude_contingent: false,
        windows: Vec::new(),
        filter,
        reference: true,
        personal: true,
        employment: true,
        organizations: true,
        management_chain: true,
        echo_criteria: None,
        echo_group: None,
    };
    if let Some(c) = root.child("Request_Criteria") {
        refuse_unsimulated(
            c,
            &[
                "Transaction_Log_Criteria_Data",
                "Exclude_Inactive_Workers",
                "Exclude_Employees",
                "Exclude_Contingent_Workers",
            ],
            &format!("/{OP}/Request_Criteria"),
        )?;
        q.exclude_inactive = flag(c, "Exclude_Inactive_Workers").unwrap_or(false);
        q.exclude_employees = flag(c, "Exclude_Employees").unwrap_or(false);
        q.exclude_contingent = flag(c, "Exclude_Contingent_Workers").unwrap_or(false);
        q.windows = parse_windows(c, "Transaction_Log_Criteria_Data", OP)?;
        q.echo_criteria = Some(c.clone());
    }
    if let Some(g) = root.child("Response_Group") {
        // With a Response_Group, only the groups it includes are sent.
        q.reference = flag(g, "Include_Reference").unwrap_or(false);
        q.personal = flag(g, "Include_Personal_Information").unwrap_or(false);
        q.employment = flag(g, "Include_Employment_Information").unwrap_or(false);
        q.organizations = flag(g, "Include_Organizations").unwrap_or(false);
        q.management_chain = flag(g, "Include_Management_Chain_Data").unwrap_or(false);
        q.echo_group = Some(g.clone());
    }
    Ok(q)
}

/// Reads a `Get_Organizations_Request` (already valid against the tree).
pub(crate) fn orgs(root: &Node, now_ms: i64, today: NaiveDate) -> Result<OrgsQuery, Refusal> {
    const OP: &str = "Get_Organizations_Request";
    let filter = unreferenced_filter(root, OP, now_ms, today)?;
    let mut q = OrgsQuery {
        supervisory: true,
        include_inactive: false,
        windows: Vec::new(),
        filter,
        hierarchy: true,
        roles: true,
        echo_criteria: None,
        echo_group: None,
    };
    if let Some(c) = root.child("Request_Criteria") {
        refuse_unsimulated(
            c,
            &[
                "Organization_Type_Reference",
                "Include_Inactive",
                "Transaction_Log_Criteria",
            ],
            &format!("/{OP}/Request_Criteria"),
        )?;
        let types: Vec<&Node> = c.children_named("Organization_Type_Reference").collect();
        if !types.is_empty() {
            q.supervisory = types.iter().any(|t| {
                t.children_named("ID").any(|id| {
                    id.attr(Some(super::schema::BSVC), "type") == Some("Organization_Type_ID")
                        && id.text.trim() == "SUPERVISORY"
                })
            });
        }
        q.include_inactive = flag(c, "Include_Inactive").unwrap_or(false);
        q.windows = parse_windows(c, "Transaction_Log_Criteria", OP)?;
        q.echo_criteria = Some(c.clone());
    }
    if let Some(g) = root.child("Response_Group") {
        q.hierarchy = flag(g, "Include_Hierarchy_Data").unwrap_or(false);
        q.roles = flag(g, "Include_Roles_Data").unwrap_or(false);
        q.echo_group = Some(g.clone());
    }
    Ok(q)
}
