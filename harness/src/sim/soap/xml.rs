//! A small namespace-aware XML tree (requests are small) read with
//! quick-xml, and an element builder whose writer puts children in schema
//! order, so a response cannot drift from Workday's element order.

use std::borrow::Cow;
use std::sync::Arc;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::schema::{schema, BSVC};

/// Nesting deeper than this is refused (Workday's requests are shallow).
const MAX_DEPTH: usize = 64;

/// An attribute with its resolved namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) ns: Option<String>,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// An element with its resolved namespace, attributes (namespace
/// declarations left out), text and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) ns: Option<String>,
    pub(crate) name: String,
    pub(crate) attrs: Vec<Attr>,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    /// The first child called `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child called `name`.
    pub(crate) fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child called `name`.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The value of attribute `name` in namespace `ns`.
    pub(crate) fn attr(&self, ns: Option<&str>, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && a.ns.as_deref() == ns)
            .map(|a| a.value.as_str())
    }
}

fn resolved(r: ResolveResult<'_>) -> Option<String> {
    match r {
        ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        _ => None,
    }
}

/// Parses a whole document into its root element.
pub(crate) fn parse(bytes: &[u8]) -> Result<Node, String> {
    let mut reader = NsReader::from_reader(bytes);
    let mut stack: Vec<Node> = Vec::new();
    loop {
        let (ns, ev) = reader
            .read_resolved_event()
            .map_err(|e| format!("the body is not well-formed XML: {e}"))?;
        let ns = resolved(ns);
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements are nested deeper than {MAX_DEPTH}"));
                }
                let mut node = Node {
                    ns,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|e| format!("bad attribute: {e}"))?;
                    let key = a.key;
                    if key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ans, local) = reader.resolve_attribute(key);
                    let value = a
                        .unescape_value()
                        .map_err(|e| format!("bad attribute value: {e}"))?
                        .into_owned();
                    node.attrs.push(Attr {
                        ns: resolved(ans),
                        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value,
                    });
                }
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err("unbalanced end tag".into());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.unescape().map_err(|e| format!("bad text: {e}"))?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => return Err("the document ends before its root element closes".into()),
            _ => {}
        }
    }
}

/// An element to write: `wd:`-prefixed name, `wd:`-prefixed attributes,
/// text, children (in any order: [`El::write`] orders them).
#[derive(Debug, Clone, Default)]
pub(crate) struct El {
    name: Cow<'static, str>,
    attrs: Vec<(&'static str, String)>,
    text: Option<String>,
    children: Vec<El>,
    /// Already rendered (name, attributes and content): written as is.
    raw: Option<Arc<str>>,
}

impl El {
    /// An empty element.
    pub(crate) fn new(name: &'static str) -> El {
        El {
            name: Cow::Borrowed(name),
            ..El::default()
        }
    }

    /// An element holding `text`.
    pub(crate) fn text(name: &'static str, text: impl Into<String>) -> El {
        El {
            name: Cow::Borrowed(name),
            text: Some(text.into()),
            ..El::default()
        }
    }

    /// An element rendered before (by [`El::write`] with the type of
    /// `name`), written as is.
    pub(crate) fn raw(name: &'static str, xml: Arc<str>) -> El {
        El {
            name: Cow::Borrowed(name),
            raw: Some(xml),
            ..El::default()
        }
    }

    /// `1` or `0`, as Workday writes booleans.
    pub(crate) fn flag(name: &'static str, v: bool) -> El {
        El::text(name, if v { "1" } else { "0" })
    }

    /// A `wd:`-prefixed attribute.
    pub(crate) fn attr(mut self, k: &'static str, v: impl Into<String>) -> El {
        self.attrs.push((k, v.into()));
        self
    }

    /// Appends a child.
    pub(crate) fn child(mut self, c: El) -> El {
        self.children.push(c);
        self
    }

    /// Appends a child if there is one.
    pub(crate) fn opt(mut self, c: Option<El>) -> El {
        if let Some(c) = c {
            self.children.push(c);
        }
        self
    }

    /// Appends a child in place.
    pub(crate) fn push(&mut self, c: El) {
        self.children.push(c);
    }

    /// A reference element: `<wd:{name} wd:Descriptor=..><wd:ID wd:type=..>..`.
    pub(crate) fn reference(
        name: &'static str,
        descriptor: Option<&str>,
        ids: &[(&str, &str)],
    ) -> El {
        let mut el = El::new(name);
        if let Some(d) = descriptor {
            el = el.attr("Descriptor", d);
        }
        for (ty, v) in ids {
            el.push(El::text("ID", *v).attr("type", *ty));
        }
        el
    }

    /// Rebuilds a parsed bsvc element (to echo a request's criteria).
    pub(crate) fn from_node(n: &Node) -> El {
        El {
            name: Cow::Owned(n.name.clone()),
            attrs: n
                .attrs
                .iter()
                .filter(|a| a.ns.as_deref() == Some(BSVC))
                .filter_map(|a| {
                    // Only attribute names the tree knows survive (they are
                    // validated before any echo).
                    static_attr(&a.name).map(|k| (k, a.value.clone()))
                })
                .collect(),
            text: n.children.is_empty().then(|| n.text.trim().to_string()),
            children: n.children.iter().map(El::from_node).collect(),
            raw: None,
        }
    }

    /// Writes the element as `wd:` XML, children ordered as type `ty` lists them.
    pub(crate) fn write(&self, ty: &str, out: &mut String) {
        if let Some(raw) = &self.raw {
            out.push_str(raw);
            return;
        }
        out.push_str("<wd:");
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push_str(" wd:");
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&quick_xml::escape::escape(v.as_str()));
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(t) = &self.text {
            out.push_str(&quick_xml::escape::partial_escape(t.as_str()));
        }
        if !self.children.is_empty() {
            let s = schema();
            let t = s.ty(ty);
            let mut kids: Vec<(usize, &str, &El)> = self
                .children
                .iter()
                .map(
                    |c| match t.and_then(|t| t.position(&c.name).map(|p| (p, t))) {
                        Some((p, t)) => (p, t.children[p].ty.as_str(), c),
                        None => (usize::MAX, "string", c),
                    },
                )
                .collect();
            if !kids.is_sorted_by_key(|k| k.0) {
                kids.sort_by_key(|k| k.0);
            }
            for (_, cty, c) in kids {
                c.write(cty, out);
            }
        }
        out.push_str("</wd:");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// The attribute names the tree declares, as static strings.
fn static_attr(name: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "type",
        "Descriptor",
        "version",
        "Primary",
        "Public",
        "Primary_Job",
    ];
    KNOWN.iter().copied().find(|k| *k == name)
}
