//! Workday's element tree for `Get_Workers` and `Get_Organizations`
//! (`wsdl-tree.json`, see the README beside it) and a validator that checks
//! a parsed document against it the way Workday's SOAP front end does:
//! unknown elements, elements out of schema order, repeated single elements,
//! missing required elements, unknown `bsvc` attributes and badly typed leaf
//! values are each a [`Violation`] with the XPath Workday puts in a
//! `Validation_Fault`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::xml::Node;

/// The Workday business-services namespace.
pub(crate) const BSVC: &str = "urn:com.workday/bsvc";

const TREE_JSON: &str = include_str!("wsdl-tree.json");

#[derive(Debug, Deserialize)]
struct RawTree {
    roots: HashMap<String, String>,
    types: HashMap<String, RawType>,
}

#[derive(Debug, Deserialize)]
struct RawType {
    children: Vec<(String, String, bool, bool)>,
    attrs: Vec<String>,
    text: bool,
}

/// One child element slot of a complex type.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) name: String,
    pub(crate) ty: String,
    pub(crate) repeatable: bool,
    pub(crate) optional: bool,
}

/// A complex type: children in schema order, attributes, text content.
#[derive(Debug)]
pub(crate) struct Type {
    pub(crate) children: Vec<Child>,
    pub(crate) attrs: Vec<String>,
    pub(crate) text: bool,
}

impl Type {
    /// The schema position of child `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.name == name)
    }
}

/// The whole tree.
#[derive(Debug)]
pub(crate) struct Schema {
    roots: HashMap<String, String>,
    types: HashMap<String, Type>,
}

/// Why a document does not fit the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// What Workday says, e.g. "Element 'Foo' is not a valid child of 'Request_Criteria'".
    pub(crate) message: String,
    /// `/bsvc:Get_Workers_Request[1]/bsvc:Request_Criteria[1]/bsvc:Foo[1]`.
    pub(crate) xpath: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {})", self.message, self.xpath)
    }
}

/// The parsed tree (parsed once; the JSON is compiled in, so a parse
/// failure is a build defect that every SOAP test would show).
pub(crate) fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let raw: RawTree = serde_json::from_str(TREE_JSON).unwrap_or_else(|e| {
            tracing::error!(error = %e, "wsdl-tree.json does not parse");
            RawTree {
                roots: HashMap::new(),
                types: HashMap::new(),
            }
        });
        Schema {
            roots: raw.roots,
            types: raw
                .types
                .into_iter()
                .map(|(k, t)| {
                    let children = t
                        .children
                        .into_iter()
                        .map(|(name, ty, repeatable, optional)| Child {
                            name,
                            ty,
                            repeatable,
                            optional,
                        })
                        .collect();
                    (
                        k,
                        Type {
                            children,
                            attrs: t.attrs,
                            text: t.text,
                        },
                    )
                })
                .collect(),
        }
    })
}

/// Whether a leaf value fits its type.
fn leaf_ok(ty: &str, v: &str) -> bool {
    let v = v.trim();
    match ty {
        "bool" => matches!(v, "0" | "1" | "true" | "false"),
        "float64" => !v.is_empty() && v.parse::<f64>().is_ok_and(f64::is_finite),
        "time.Time" => super::dates::parse_date_or_datetime(v).is_some(),
        _ => true,
    }
}

fn is_leaf(ty: &str) -> bool {
    matches!(ty, "string" | "bool" | "float64" | "time.Time" | "byte")
}

impl Schema {
    /// The type of root element `name` (e.g. `Get_Workers_Request`).
    pub(crate) fn root_type(&self, name: &str) -> Option<&str> {
        self.roots.get(name).map(String::as_str)
    }

    /// A complex type by name.
    pub(crate) fn ty(&self, name: &str) -> Option<&Type> {
        self.types.get(name)
    }

    /// Validates `node` as root element (its name must be one of the roots).
    /// The root may carry `bsvc:version` (Workday sends it on responses too,
    /// see seed 004, though the generated types only declare it on requests).
    pub(crate) fn validate_root(&self, node: &Node) -> Result<(), Violation> {
        let xpath = format!("/bsvc:{}[1]", node.name);
        if node.ns.as_deref() != Some(BSVC) {
            return Err(Violation {
                message: format!(
                    "Element '{}' is not in namespace {BSVC}: no such operation",
                    node.name
                ),
                xpath,
            });
        }
        let Some(ty) = self.root_type(&node.name) else {
            return Err(Violation {
                message: format!(
                    "'{}' is not an operation this service supports here \
                     (Get_Workers_Request, Get_Organizations_Request)",
                    node.name
                ),
                xpath,
            });
        };
        self.validate(node, ty, &xpath, true)
    }

    fn validate(&self, node: &Node, ty: &str, xpath: &str, root: bool) -> Result<(), Violation> {
        let fail = |message: String, xpath: &str| {
            Err(Violation {
                message,
                xpath: xpath.to_string(),
            })
        };
        // Attributes in the bsvc namespace must be declared.
        let declared: &[String] = self.ty(ty).map(|t| t.attrs.as_slice()).unwrap_or(&[]);
        for a in &node.attrs {
            if a.ns.as_deref() != Some(BSVC) {
                continue;
            }
            if !(declared.contains(&a.name) || root && a.name == "version") {
                return fail(
                    format!(
                        "Attribute '{}' is not valid on element '{}'",
                        a.name, node.name
                    ),
                    xpath,
                );
            }
        }
        if is_leaf(ty) {
            if let Some(c) = node.children.first() {
                return fail(
                    format!(
                        "Element '{}' holds a value and cannot contain element '{}'",
                        node.name, c.name
                    ),
                    xpath,
                );
            }
            if !leaf_ok(ty, &node.text) {
                let want = match ty {
                    "bool" => "a boolean (0, 1, true or false)",
                    "float64" => "a number",
                    "time.Time" => "a date or date-time",
                    _ => "a value",
                };
                return fail(
                    format!(
                        "Invalid value '{}' for element '{}': expected {want}",
                        node.text.trim(),
                        node.name
                    ),
                    xpath,
                );
            }
            return Ok(());
        }
        let Some(t) = self.ty(ty) else {
            return fail(
                format!("Element '{}' has an unknown type '{ty}'", node.name),
                xpath,
            );
        };
        if !t.text && !node.text.trim().is_empty() {
            return fail(format!("Element '{}' cannot hold text", node.name), xpath);
        }
        let mut last: Option<usize> = None;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for c in &node.children {
            let n = counts.entry(c.name.as_str()).or_insert(0);
            *n += 1;
            let cpath = format!("{xpath}/bsvc:{}[{n}]", c.name);
            if c.ns.as_deref() != Some(BSVC) {
                return fail(
                    format!(
                        "Element '{}' is not in namespace {BSVC} and is not a valid child of '{}'",
                        c.name, node.name
                    ),
                    &cpath,
                );
            }
            let Some(pos) = t.position(&c.name) else {
                return fail(
                    format!(
                        "Element '{}' is not a valid child of '{}'",
                        c.name, node.name
                    ),
                    &cpath,
                );
            };
            match last {
                Some(l) if pos < l => {
                    return fail(
                        format!(
                            "Element '{}' is out of order: it must come before '{}' in '{}'",
                            c.name, t.children[l].name, node.name
                        ),
                        &cpath,
                    )
                }
                Some(l) if pos == l && !t.children[pos].repeatable => {
                    return fail(
                        format!(
                            "Element '{}' may occur only once in '{}'",
                            c.name, node.name
                        ),
                        &cpath,
                    )
                }
                _ => {}
            }
            last = Some(pos);
            self.validate(c, &t.children[pos].ty, &cpath, false)?;
        }
        for req in t.children.iter().filter(|c| !c.optional) {
            if !node.children.iter().any(|c| c.name == req.name) {
                return fail(
                    format!(
                        "Element Content '{}' is required, on internal element '{}'",
                        req.name, node.name
                    ),
                    xpath,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_loads_with_both_operations() {
        let s = schema();
        assert_eq!(s.types.len(), 698);
        assert_eq!(
            s.root_type("Get_Workers_Request"),
            Some("GetWorkersRequestType")
        );
        assert_eq!(
            s.root_type("Get_Organizations_Response"),
            Some("GetOrganizationsResponseType")
        );
        let f = s.ty("ResponseFilterType").map(|t| {
            t.children
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            f.as_deref(),
            Some(
                &[
                    "As_Of_Effective_Date",
                    "As_Of_Entry_DateTime",
                    "Page",
                    "Count"
                ][..]
            )
        );
    }

    fn node(name: &str, children: Vec<Node>) -> Node {
        Node {
            ns: Some(BSVC.to_string()),
            name: name.to_string(),
            children,
            ..Node::default()
        }
    }

    fn leaf(name: &str, text: &str) -> Node {
        Node {
            text: text.to_string(),
            ..node(name, Vec::new())
        }
    }

    #[test]
    fn repeats_of_single_elements_and_foreign_namespaces_are_refused() {
        let twice = node(
            "Get_Workers_Request",
            vec![node(
                "Response_Filter",
                vec![leaf("Page", "1"), leaf("Page", "2")],
            )],
        );
        let v = schema().validate_root(&twice).unwrap_err();
        assert_eq!(
            v.message,
            "Element 'Page' may occur only once in 'Response_Filter'"
        );
        assert_eq!(
            v.xpath,
            "/bsvc:Get_Workers_Request[1]/bsvc:Response_Filter[1]/bsvc:Page[2]"
        );
        let mut foreign = leaf("Page", "1");
        foreign.ns = None;
        let req = node(
            "Get_Workers_Request",
            vec![node("Response_Filter", vec![foreign])],
        );
        let v = schema().validate_root(&req).unwrap_err();
        assert!(v.message.contains("is not in namespace"), "{v}");
        let ok = node(
            "Get_Workers_Request",
            vec![node(
                "Response_Filter",
                vec![
                    leaf("As_Of_Entry_DateTime", "2026-06-01T00:00:00Z"),
                    leaf("Count", "5"),
                ],
            )],
        );
        assert_eq!(schema().validate_root(&ok), Ok(()));
    }
}
