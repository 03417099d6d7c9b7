//! The SOAP request envelopes: `Get_Workers_Request` and
//! `Get_Organizations_Request`, with their elements in the schema order of
//! Workday's Human_Resources WSDL (the simulator and Workday reject any
//! other order).

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Workday's web service namespace.
pub(crate) const BSVC: &str = "urn:com.workday/bsvc";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// A transaction-log window: which of its two bounds pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// `Updated_From` / `Updated_Through`: changes entered in the window.
    Updated(DateTime<Utc>, DateTime<Utc>),
    /// `Effective_From` / `Effective_Through`: changes that took effect in it.
    Effective(DateTime<Utc>, DateTime<Utc>),
}

/// What one SOAP read asks for (every page of a pass shares it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    /// `Get_Workers`.
    Workers {
        /// `Exclude_Inactive_Workers`.
        exclude_inactive: bool,
        /// `Transaction_Log_Criteria_Data`, on a delta.
        window: Option<Window>,
    },
    /// `Get_Organizations` of type SUPERVISORY.
    Organizations {
        /// `Include_Inactive`.
        include_inactive: bool,
        /// `Transaction_Log_Criteria` (Updated window), on a delta.
        window: Option<Window>,
    },
}

impl Query {
    /// The operation's name, for messages.
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            Query::Workers { .. } => "Get_Workers",
            Query::Organizations { .. } => "Get_Organizations",
        }
    }
}

/// Formats an instant as Workday's dateTime (`2026-04-01T09:00:00.000Z`).
pub(crate) fn date_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// XML-escapes text content.
fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn range(window: &Window) -> String {
    let (a, b, from, through) = match window {
        Window::Updated(a, b) => (a, b, "Updated_From", "Updated_Through"),
        Window::Effective(a, b) => (a, b, "Effective_From", "Effective_Through"),
    };
    format!(
        "<bsvc:Transaction_Date_Range_Data><bsvc:{from}>{}</bsvc:{from}><bsvc:{through}>{}</bsvc:{through}></bsvc:Transaction_Date_Range_Data>",
        date_time(*a),
        date_time(*b)
    )
}

/// The request body element for `page` of `count`, read as of `read_time`.
pub(crate) fn body(
    query: &Query,
    version: &str,
    read_time: Option<DateTime<Utc>>,
    page: u64,
    count: u32,
) -> String {
    let version = esc(version);
    let entry = read_time
        .map(|t| {
            format!(
                "<bsvc:As_Of_Entry_DateTime>{}</bsvc:As_Of_Entry_DateTime>",
                date_time(t)
            )
        })
        .unwrap_or_default();
    match query {
        Query::Workers {
            exclude_inactive,
            window,
        } => {
            let log = window
                .as_ref()
                .map(|w| {
                    format!(
                        "<bsvc:Transaction_Log_Criteria_Data>{}</bsvc:Transaction_Log_Criteria_Data>",
                        range(w)
                    )
                })
                .unwrap_or_default();
            format!(
                "<bsvc:Get_Workers_Request bsvc:version=\"{version}\">\
<bsvc:Request_Criteria>{log}<bsvc:Exclude_Inactive_Workers>{exclude_inactive}</bsvc:Exclude_Inactive_Workers></bsvc:Request_Criteria>\
<bsvc:Response_Filter>{date}{entry}<bsvc:Page>{page}</bsvc:Page><bsvc:Count>{count}</bsvc:Count></bsvc:Response_Filter>\
<bsvc:Response_Group><bsvc:Include_Reference>true</bsvc:Include_Reference><bsvc:Include_Personal_Information>true</bsvc:Include_Personal_Information><bsvc:Include_Employment_Information>true</bsvc:Include_Employment_Information><bsvc:Include_Organizations>true</bsvc:Include_Organizations><bsvc:Include_Management_Chain_Data>true</bsvc:Include_Management_Chain_Data></bsvc:Response_Group>\
</bsvc:Get_Workers_Request>",
                date = read_time
                    .map(|t| format!(
                        "<bsvc:As_Of_Effective_Date>{}</bsvc:As_Of_Effective_Date>",
                        t.date_naive().format("%Y-%m-%d")
                    ))
                    .unwrap_or_default(),
            )
        }
        Query::Organizations {
            include_inactive,
            window,
        } => {
            let log = window
                .as_ref()
                .map(|w| {
                    format!(
                        "<bsvc:Transaction_Log_Criteria>{}</bsvc:Transaction_Log_Criteria>",
                        range(w)
                    )
                })
                .unwrap_or_default();
            format!(
                "<bsvc:Get_Organizations_Request bsvc:version=\"{version}\">\
<bsvc:Request_Criteria><bsvc:Organization_Type_Reference><bsvc:ID bsvc:type=\"Organization_Type_ID\">SUPERVISORY</bsvc:ID></bsvc:Organization_Type_Reference><bsvc:Include_Inactive>{include_inactive}</bsvc:Include_Inactive>{log}</bsvc:Request_Criteria>\
<bsvc:Response_Filter>{entry}<bsvc:Page>{page}</bsvc:Page><bsvc:Count>{count}</bsvc:Count></bsvc:Response_Filter>\
<bsvc:Response_Group><bsvc:Include_Roles_Data>true</bsvc:Include_Roles_Data><bsvc:Include_Hierarchy_Data>true</bsvc:Include_Hierarchy_Data></bsvc:Response_Group>\
</bsvc:Get_Organizations_Request>"
            )
        }
    }
}

/// The whole SOAP 1.1 envelope around `body`, with a WS-Security
/// UsernameToken header when `user` is given. The result holds the password:
/// it is only ever sent, never logged or quoted.
pub(crate) fn envelope(user: Option<(&str, &SecretString)>, body: &str) -> String {
    let header = match user {
        Some((name, password)) => format!(
            "<soapenv:Header><wsse:Security soapenv:mustUnderstand=\"1\" xmlns:wsse=\"{WSSE}\"><wsse:UsernameToken><wsse:Username>{}</wsse:Username><wsse:Password Type=\"{PASSWORD_TEXT}\">{}</wsse:Password></wsse:UsernameToken></wsse:Security></soapenv:Header>",
            esc(name),
            esc(password.expose_secret())
        ),
        None => String::new(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"{SOAP_ENV}\" xmlns:bsvc=\"{BSVC}\">{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_delta_orders_the_log_criteria_first() {
        let t: DateTime<Utc> = "2026-04-01T09:00:00Z".parse().unwrap();
        let b = body(
            &Query::Workers {
                exclude_inactive: false,
                window: Some(Window::Effective(t, t)),
            },
            "v44.0",
            Some(t),
            2,
            100,
        );
        assert!(b.contains("<bsvc:Request_Criteria><bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Effective_From>2026-04-01T09:00:00.000Z</bsvc:Effective_From>"));
        assert!(b.contains("<bsvc:As_Of_Effective_Date>2026-04-01</bsvc:As_Of_Effective_Date><bsvc:As_Of_Entry_DateTime>2026-04-01T09:00:00.000Z</bsvc:As_Of_Entry_DateTime><bsvc:Page>2</bsvc:Page><bsvc:Count>100</bsvc:Count>"));
    }
}
