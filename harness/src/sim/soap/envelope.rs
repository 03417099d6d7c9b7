//! SOAP 1.1 envelopes: responses and faults, spelled as Workday spells them.
//!
//! Shapes, from real Workday exchanges:
//! - responses: `env:Envelope`/`env:Body` with the `wd:` response element
//!   carrying `wd:version` (seed 004, `Get_Assess_Candidate_Response`);
//! - faults: HTTP 500, `SOAP-ENV:Envelope`/`SOAP-ENV:Body`/`SOAP-ENV:Fault`
//!   with an unqualified `faultcode` and `faultstring`. Bad credentials are
//!   `SOAP-ENV:Client.authenticationError` "invalid username or password"
//!   (NetIQ Identity Manager Workday driver docs, 9.8; ServiceNow
//!   KB0856006); validation errors are `SOAP-ENV:Client.validationError`
//!   "Validation error occurred. ..." with a `detail`/`wd:Validation_Fault`/
//!   `wd:Validation_Error` holding `wd:Message`, `wd:Detail_Message` and
//!   `wd:Xpath` (Workday Studio test fixtures and PowerShell Workday API
//!   module mocks); a refused task is "Processing error occurred. The task
//!   submitted is not authorized." (several Workday clients match that text).

use quick_xml::escape::partial_escape as escape;

use super::xml::Xml;

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Starts a response envelope and opens its `wd:` response element `name`
/// (element-tree type `ty`), which declares `wd:` itself, as Workday's do,
/// and carries `wd:version`. [`close_response`] ends both.
pub(crate) fn open_response(x: &mut Xml, name: &'static str, ty: &'static str, version: &str) {
    x.raw("<?xml version='1.0' encoding='UTF-8'?><env:Envelope xmlns:env=\"");
    x.raw(SOAP_ENV);
    x.raw("\"><env:Body>");
    x.open_root(name, ty);
    x.xmlns("xmlns:wd=\"urn:com.workday/bsvc\"");
    x.attr("version", version);
}

/// Closes the response element and the envelope [`open_response`] opened.
pub(crate) fn close_response(x: &mut Xml) {
    x.close();
    x.raw("</env:Body></env:Envelope>");
}

/// What kind of detail a fault carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    /// No `detail` element.
    None,
    /// `wd:Validation_Fault` with one `wd:Validation_Error`.
    Validation {
        message: String,
        detail: String,
        xpath: String,
    },
    /// `wd:Processing_Fault` with a `wd:Detail_Message`.
    Processing(String),
}

/// A fault envelope.
pub(crate) fn fault(code: &str, string: &str, detail: &Detail) -> Vec<u8> {
    let mut out = String::with_capacity(768);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    out.push_str("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"");
    out.push_str(SOAP_ENV);
    out.push_str("\"><SOAP-ENV:Body><SOAP-ENV:Fault xmlns:SOAP-ENV=\"");
    out.push_str(SOAP_ENV);
    out.push_str("\" xmlns:wd=\"urn:com.workday/bsvc\"><faultcode>");
    out.push_str(&escape(code));
    out.push_str("</faultcode><faultstring>");
    out.push_str(&escape(string));
    out.push_str("</faultstring>");
    match detail {
        Detail::None => {}
        Detail::Validation {
            message,
            detail,
            xpath,
        } => {
            out.push_str("<detail><wd:Validation_Fault><wd:Validation_Error><wd:Message>");
            out.push_str(&escape(message.as_str()));
            out.push_str("</wd:Message><wd:Detail_Message>");
            out.push_str(&escape(detail.as_str()));
            out.push_str("</wd:Detail_Message><wd:Xpath>");
            out.push_str(&escape(xpath.as_str()));
            out.push_str("</wd:Xpath></wd:Validation_Error></wd:Validation_Fault></detail>");
        }
        Detail::Processing(msg) => {
            out.push_str("<detail><wd:Processing_Fault><wd:Detail_Message>");
            out.push_str(&escape(msg.as_str()));
            out.push_str("</wd:Detail_Message></wd:Processing_Fault></detail>");
        }
    }
    out.push_str("</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>");
    out.into_bytes()
}

/// `SOAP-ENV:Client.validationError` with a `Validation_Fault`.
pub(crate) fn validation(message: &str, xpath: &str) -> Vec<u8> {
    fault(
        "SOAP-ENV:Client.validationError",
        &format!("Validation error occurred. {message}"),
        &Detail::Validation {
            message: message.to_string(),
            detail: message.to_string(),
            xpath: xpath.to_string(),
        },
    )
}

/// `SOAP-ENV:Client.authenticationError` "invalid username or password".
pub(crate) fn authentication() -> Vec<u8> {
    fault(
        "SOAP-ENV:Client.authenticationError",
        "invalid username or password",
        &Detail::None,
    )
}

/// `SOAP-ENV:Server.processingError` with a `Processing_Fault`.
pub(crate) fn processing(detail: &str) -> Vec<u8> {
    fault(
        "SOAP-ENV:Server.processingError",
        &format!("Processing error occurred. {detail}"),
        &Detail::Processing(detail.to_string()),
    )
}

/// The refused-task fault; the detail names the operation.
pub(crate) fn not_authorized(operation: &str) -> Vec<u8> {
    fault(
        "SOAP-ENV:Server.processingError",
        "Processing error occurred. The task submitted is not authorized.",
        &Detail::Processing(format!(
            "The task submitted is not authorized: the security group of this \
             account has no permission for {operation}."
        )),
    )
}

/// A plain `SOAP-ENV:Client` or `SOAP-ENV:Server` fault.
pub(crate) fn plain(code: &str, string: &str) -> Vec<u8> {
    fault(code, string, &Detail::None)
}
