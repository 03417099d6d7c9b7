//! A small namespace-aware XML tree (requests are small) read with
//! quick-xml, and a streaming writer for responses: one pre-sized buffer,
//! no allocation per element, and escaping only where a value needs it.
//!
//! The writer emits elements in the order the code opens them. In debug
//! builds (every test) it checks each element against the element tree as
//! it is written, so a response cannot drift from Workday's element order
//! unnoticed; `validate_response` checks whole responses in the wire tests.

use std::io::Write as _;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

#[cfg(debug_assertions)]
use super::schema::schema;
use super::schema::BSVC;

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

/// Appends `s`, escaping `<`, `>` and `&`, and in attribute values also
/// `"` and `'` (what quick-xml's `partial_escape` and `escape` do).
fn push_escaped(out: &mut Vec<u8>, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut done = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' if attr => b"&quot;",
            b'\'' if attr => b"&apos;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[done..i]);
        out.extend_from_slice(rep);
        done = i + 1;
    }
    out.extend_from_slice(&bytes[done..]);
}

/// A streaming writer of `wd:`-prefixed elements into one buffer.
#[derive(Debug, Default)]
pub(crate) struct Xml {
    out: Vec<u8>,
    /// The names of the open elements, innermost last.
    open: Vec<&'static str>,
    /// Whether the last start tag still lacks its `>` (attributes may
    /// follow; an element closed now is written `<wd:X/>`).
    pending: bool,
    /// Per open element: its type in the element tree (`None` for a leaf)
    /// and the schema position of its last child.
    #[cfg(debug_assertions)]
    order: Vec<(Option<&'static str>, Option<usize>)>,
}

impl Xml {
    /// A writer whose buffer holds `capacity` bytes before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> Xml {
        Xml {
            out: Vec::with_capacity(capacity),
            ..Xml::default()
        }
    }

    /// A writer for a fragment that will be a child of an element of
    /// element-tree type `parent_ty` (see [`Xml::rendered`]).
    pub(crate) fn fragment(capacity: usize, _parent_ty: &'static str) -> Xml {
        Xml {
            out: Vec::with_capacity(capacity),
            #[cfg(debug_assertions)]
            order: vec![(Some(_parent_ty), None)],
            ..Xml::default()
        }
    }

    /// Writes element `name` as [`Xml::fragment`] rendered it before.
    pub(crate) fn rendered(&mut self, name: &str, xml: &[u8]) {
        self.end_start_tag();
        #[cfg(debug_assertions)]
        {
            self.check_order(name);
            self.order.pop();
        }
        #[cfg(not(debug_assertions))]
        let _ = name;
        self.out.extend_from_slice(xml);
    }

    /// The document.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Appends markup as is (the envelope around the response element).
    pub(crate) fn raw(&mut self, markup: &str) {
        self.end_start_tag();
        self.out.extend_from_slice(markup.as_bytes());
    }

    fn end_start_tag(&mut self) {
        if self.pending {
            self.out.push(b'>');
            self.pending = false;
        }
    }

    fn start_tag(&mut self, name: &str) {
        self.end_start_tag();
        self.out.extend_from_slice(b"<wd:");
        self.out.extend_from_slice(name.as_bytes());
        self.pending = true;
        #[cfg(debug_assertions)]
        self.check_order(name);
    }

    fn end_tag(&mut self, name: &str) {
        if self.pending {
            self.out.extend_from_slice(b"/>");
            self.pending = false;
        } else {
            self.out.extend_from_slice(b"</wd:");
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(b'>');
        }
        #[cfg(debug_assertions)]
        self.order.pop();
    }

    /// Checks that element `name` may come next in its parent, in schema
    /// order, and enters its type.
    #[cfg(debug_assertions)]
    fn check_order(&mut self, name: &str) {
        let s = schema();
        let child = match self.order.last_mut() {
            Some((Some(parent), last)) => {
                let t = s.ty(parent);
                let pos = t.and_then(|t| t.position(name));
                debug_assert!(pos.is_some(), "{name} is not a child of {parent}");
                if let (Some(t), Some(p)) = (t, pos) {
                    debug_assert!(
                        last.is_none_or(|l| l < p || (l == p && t.children[p].repeatable)),
                        "{name} is out of schema order (or repeated) in {parent}"
                    );
                    *last = Some(p);
                    s.ty(&t.children[p].ty).map(|_| t.children[p].ty.as_str())
                } else {
                    None
                }
            }
            _ => None,
        };
        self.order.push((child, None));
    }

    /// Opens the response element `name` of element-tree type `ty`.
    pub(crate) fn open_root(&mut self, name: &'static str, _ty: &'static str) {
        self.end_start_tag();
        self.out.extend_from_slice(b"<wd:");
        self.out.extend_from_slice(name.as_bytes());
        self.pending = true;
        self.open.push(name);
        #[cfg(debug_assertions)]
        self.order.push((Some(_ty), None));
    }

    /// Opens element `name` (attributes may follow).
    pub(crate) fn open(&mut self, name: &'static str) -> &mut Xml {
        self.start_tag(name);
        self.open.push(name);
        self
    }

    /// A `wd:`-prefixed attribute of the element just opened.
    pub(crate) fn attr(&mut self, k: &str, v: &str) -> &mut Xml {
        debug_assert!(self.pending, "attribute {k} after content");
        self.out.extend_from_slice(b" wd:");
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"=\"");
        push_escaped(&mut self.out, v, true);
        self.out.push(b'"');
        self
    }

    /// An attribute whose value `args` writes (dates: nothing to escape).
    pub(crate) fn attr_fmt(&mut self, k: &str, args: std::fmt::Arguments<'_>) -> &mut Xml {
        debug_assert!(self.pending, "attribute {k} after content");
        self.out.extend_from_slice(b" wd:");
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"=\"");
        // Writing into a Vec cannot fail.
        let _ = self.out.write_fmt(args);
        self.out.push(b'"');
        self
    }

    /// A namespace declaration on the element just opened, as is.
    pub(crate) fn xmlns(&mut self, decl: &str) -> &mut Xml {
        self.out.push(b' ');
        self.out.extend_from_slice(decl.as_bytes());
        self
    }

    /// Text content (escaped).
    pub(crate) fn text(&mut self, t: &str) {
        self.end_start_tag();
        push_escaped(&mut self.out, t, false);
    }

    /// Text content written by `args` (numbers and dates: nothing to escape).
    pub(crate) fn text_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        self.end_start_tag();
        // Writing into a Vec cannot fail.
        let _ = self.out.write_fmt(args);
    }

    /// Closes the innermost open element.
    pub(crate) fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.end_tag(name);
        }
    }

    /// `<wd:{name}>{text}</wd:{name}>`, text escaped.
    pub(crate) fn leaf(&mut self, name: &'static str, text: &str) {
        self.open(name).text(text);
        self.close();
    }

    /// A leaf whose text `args` writes (numbers, dates).
    pub(crate) fn leaf_fmt(&mut self, name: &'static str, args: std::fmt::Arguments<'_>) {
        self.open(name).text_fmt(args);
        self.close();
    }

    /// `1` or `0`, as Workday writes booleans.
    pub(crate) fn flag(&mut self, name: &'static str, v: bool) {
        self.leaf(name, if v { "1" } else { "0" });
    }

    /// A reference element: `<wd:{name} wd:Descriptor=..><wd:ID wd:type=..>..`.
    pub(crate) fn reference(
        &mut self,
        name: &'static str,
        descriptor: Option<&str>,
        ids: &[(&str, &str)],
    ) {
        self.open(name);
        if let Some(d) = descriptor {
            self.attr("Descriptor", d);
        }
        for (ty, v) in ids {
            self.open("ID").attr("type", ty).text(v);
            self.close();
        }
        self.close();
    }

    /// Echoes a parsed request element (criteria, response group) as `wd:`
    /// elements: `bsvc` attributes the tree knows, text of leaves only.
    /// The request was validated, so its elements are in schema order.
    pub(crate) fn echo(&mut self, n: &Node) {
        self.start_tag(&n.name);
        for a in &n.attrs {
            if a.ns.as_deref() == Some(BSVC) && KNOWN_ATTRS.contains(&a.name.as_str()) {
                self.attr(&a.name, &a.value);
            }
        }
        if n.children.is_empty() {
            self.text(n.text.trim());
        }
        for c in &n.children {
            self.echo(c);
        }
        self.end_tag(&n.name);
    }
}

/// The attribute names the tree declares (only these are echoed).
const KNOWN_ATTRS: &[&str] = &[
    "type",
    "Descriptor",
    "version",
    "Primary",
    "Public",
    "Primary_Job",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(write: impl FnOnce(&mut Xml)) -> String {
        let mut x = Xml::with_capacity(64);
        x.open_root("Get_Workers_Response", "GetWorkersResponseType");
        write(&mut x);
        x.close();
        String::from_utf8(x.into_bytes()).unwrap()
    }

    #[test]
    fn escapes_text_and_attributes_as_quick_xml_does() {
        let v = r#"O'Brien & <Sons> "Q""#;
        let out = doc(|x| {
            x.open("Response_Results");
            x.open("Total_Results").attr("type", v).text(v);
            x.close();
            x.close();
        });
        assert_eq!(
            out,
            format!(
                "<wd:Get_Workers_Response><wd:Response_Results><wd:Total_Results wd:type=\"{}\">{}</wd:Total_Results></wd:Response_Results></wd:Get_Workers_Response>",
                quick_xml::escape::escape(v),
                quick_xml::escape::partial_escape(v)
            )
        );
    }

    #[test]
    fn an_element_without_content_is_self_closed_and_an_empty_leaf_is_not() {
        let out = doc(|x| {
            x.open("Response_Filter").close();
            x.leaf("Response_Results", "");
        });
        assert_eq!(
            out,
            "<wd:Get_Workers_Response><wd:Response_Filter/><wd:Response_Results></wd:Response_Results></wd:Get_Workers_Response>"
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "out of schema order")]
    fn debug_builds_refuse_an_element_out_of_schema_order() {
        doc(|x| {
            x.open("Response_Results").close();
            x.open("Response_Filter").close();
        });
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "is not a child of")]
    fn debug_builds_refuse_an_element_the_tree_does_not_have() {
        doc(|x| x.leaf("Worker_Descriptor", "x"));
    }
}
