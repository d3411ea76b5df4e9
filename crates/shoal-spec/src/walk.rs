//! The tree walk: a context that collects diagnostics and sections, and tables whose fields are taken one by one.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use toml_edit::{ArrayOfTables, InlineTable, Item, Key, Table, Value};

use crate::command::ProgramResolver;
use crate::diag::{did_you_mean, Diagnostic, LineIndex, Location};
use crate::types::Section;

/// State shared by the whole walk of one file.
pub(crate) struct Ctx<'s> {
    pub(crate) src: &'s str,
    file: String,
    lines: LineIndex,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) sections: Vec<Section>,
    pub(crate) base_dir: PathBuf,
    pub(crate) resolver: &'s dyn ProgramResolver,
    /// Names of all services in the file (for callers and routes checks).
    pub(crate) service_names: Vec<String>,
    /// Route prefix → (owning service) for duplicate detection.
    pub(crate) routes: BTreeMap<String, String>,
}

impl<'s> Ctx<'s> {
    pub(crate) fn new(
        src: &'s str,
        file: &str,
        base_dir: PathBuf,
        resolver: &'s dyn ProgramResolver,
    ) -> Self {
        Ctx {
            src,
            file: file.to_owned(),
            lines: LineIndex::new(src),
            diags: Vec::new(),
            sections: Vec::new(),
            base_dir,
            resolver,
            service_names: Vec::new(),
            routes: BTreeMap::new(),
        }
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let (line, column) = self.lines.line_col(self.src, offset);
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    /// Records a problem at byte `offset`.
    pub(crate) fn error(&mut self, offset: usize, message: impl Into<String>) {
        let Location { file, line, column } = self.location(offset);
        self.diags.push(Diagnostic {
            file,
            line,
            column,
            message: message.into(),
        });
    }

    /// Records that an optional part of the format is present.
    pub(crate) fn section(&mut self, path: impl Into<String>, offset: usize) {
        let location = self.location(offset);
        self.sections.push(Section {
            path: path.into(),
            location,
        });
    }
}

/// A value in the document, whatever syntax wrote it.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    Value(&'a Value),
    Table(&'a Table),
    Tables(&'a ArrayOfTables),
}

impl<'a> Node<'a> {
    fn of(item: &'a Item) -> Option<Self> {
        match item {
            Item::None => None,
            Item::Value(v) => Some(Node::Value(v)),
            Item::Table(t) => Some(Node::Table(t)),
            Item::ArrayOfTables(a) => Some(Node::Tables(a)),
        }
    }

    pub(crate) fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
            Node::Tables(a) => a.span(),
        }
    }

    /// "a string", "an integer", ... for type errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Value(Value::String(_)) => "a string",
            Node::Value(Value::Integer(_)) => "an integer",
            Node::Value(Value::Float(_)) => "a float",
            Node::Value(Value::Boolean(_)) => "a boolean",
            Node::Value(Value::Datetime(_)) => "a datetime",
            Node::Value(Value::Array(_)) => "an array",
            Node::Value(Value::InlineTable(_)) | Node::Table(_) => "a table",
            Node::Tables(_) => "an array of tables",
        }
    }
}

/// One `key = value` of a table, with where its key and value are.
#[derive(Clone)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a str,
    pub(crate) key_pos: usize,
    pub(crate) node: Node<'a>,
}

impl<'a> Field<'a> {
    /// Where the value starts (the key, for values without their own span).
    pub(crate) fn value_pos(&self) -> usize {
        match self.node.span() {
            Some(r) if !(r.is_empty() && r.start == 0) => r.start,
            _ => self.key_pos,
        }
    }

    pub(crate) fn value(&self) -> Option<&'a Value> {
        match self.node {
            Node::Value(v) => Some(v),
            _ => None,
        }
    }
}

fn key_pos(key: Option<&Key>, fallback: usize) -> usize {
    key.and_then(|k| k.span()).map_or(fallback, |r| r.start)
}

/// A table being read: fields are taken by name, leftovers are reported as unknown.
pub(crate) struct Obj<'a> {
    /// Dotted path for messages and sections, e.g. `services.web.health`.
    pub(crate) path: String,
    /// Where the table starts (its header, or its key for inline tables).
    pub(crate) pos: usize,
    entries: Vec<(Field<'a>, bool)>,
    known: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    pub(crate) fn from_table(path: String, table: &'a Table, pos: usize) -> Self {
        let entries = table
            .iter()
            .filter_map(|(name, item)| {
                let node = Node::of(item)?;
                let key_pos = key_pos(table.key(name), pos);
                Some((
                    Field {
                        name,
                        key_pos,
                        node,
                    },
                    false,
                ))
            })
            .collect();
        Obj {
            path,
            pos,
            entries,
            known: Vec::new(),
        }
    }

    pub(crate) fn from_inline(path: String, table: &'a InlineTable, pos: usize) -> Self {
        let entries = table
            .iter()
            .map(|(name, value)| {
                let key_pos = key_pos(table.key(name), pos);
                (
                    Field {
                        name,
                        key_pos,
                        node: Node::Value(value),
                    },
                    false,
                )
            })
            .collect();
        Obj {
            path,
            pos,
            entries,
            known: Vec::new(),
        }
    }

    /// Opens `field` as a table, or reports that it is not one. Records it as a section.
    pub(crate) fn open(cx: &mut Ctx<'_>, field: &Field<'a>, path: String) -> Option<Self> {
        let obj = Self::open_unrecorded(cx, field, path)?;
        cx.section(obj.path.clone(), obj.pos);
        Some(obj)
    }

    /// [`Obj::open`] for tables keyed by names (`services`, `env`, ...), which are no sections.
    pub(crate) fn open_unrecorded(
        cx: &mut Ctx<'_>,
        field: &Field<'a>,
        path: String,
    ) -> Option<Self> {
        let obj = match field.node {
            Node::Table(t) => {
                let pos = match t.span() {
                    Some(r) if !(r.is_empty() && r.start == 0) => r.start,
                    _ => field.key_pos,
                };
                Obj::from_table(path, t, pos)
            }
            Node::Value(Value::InlineTable(t)) => Obj::from_inline(path, t, field.key_pos),
            other => {
                let msg = format!("`{path}` must be a table, found {}", other.kind());
                cx.error(field.value_pos(), msg);
                return None;
            }
        };
        Some(obj)
    }

    /// Takes the field `name` (registering it as a valid field name).
    pub(crate) fn take(&mut self, name: &'static str) -> Option<Field<'a>> {
        self.known.push(name);
        let (field, taken) = self.entries.iter_mut().find(|(f, _)| f.name == name)?;
        *taken = true;
        Some(field.clone())
    }

    /// Reads field `name` with `read` and stores it in `slot` when present and valid.
    pub(crate) fn set<T>(
        &mut self,
        cx: &mut Ctx<'_>,
        name: &'static str,
        slot: &mut T,
        read: impl FnOnce(&mut Ctx<'_>, &Field<'a>) -> Option<T>,
    ) {
        if let Some(value) = self.take(name).and_then(|f| read(cx, &f)) {
            *slot = value;
        }
    }

    /// Like [`Obj::set`] for optional fields.
    pub(crate) fn get<T>(
        &mut self,
        cx: &mut Ctx<'_>,
        name: &'static str,
        read: impl FnOnce(&mut Ctx<'_>, &Field<'a>) -> Option<T>,
    ) -> Option<T> {
        self.take(name).and_then(|f| read(cx, &f))
    }

    /// Whether the table has no fields at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes every field: for tables whose keys are names (services, env, flags, ...).
    pub(crate) fn drain(&mut self) -> Vec<Field<'a>> {
        self.entries
            .iter_mut()
            .map(|(f, taken)| {
                *taken = true;
                f.clone()
            })
            .collect()
    }

    /// Reports a required field that is absent.
    pub(crate) fn missing(&self, cx: &mut Ctx<'_>, name: &str) {
        cx.error(
            self.pos,
            format!("missing field `{name}` in [{}]", self.path),
        );
    }

    /// Reports every field that was not taken, suggesting the closest valid name.
    pub(crate) fn finish(self, cx: &mut Ctx<'_>) {
        for (field, taken) in &self.entries {
            if *taken {
                continue;
            }
            let hint = did_you_mean(field.name, self.known.iter().copied());
            let place = if self.path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in [{}]", self.path)
            };
            cx.error(
                field.key_pos,
                format!("unknown field `{}` {place}{hint}", field.name),
            );
        }
    }
}
