//! An event as EventBridge's matcher sees it: its leaf values (strings, numbers, booleans,
//! nulls) under dotted paths, each with the array elements it sits in. Only the paths some
//! rule names are kept; other subtrees are never walked.

use std::collections::{HashMap, HashSet};

use serde_json::{Number, Value};

/// A leaf value of the event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'e> {
    Str(&'e str),
    Num(&'e Number),
    Bool(bool),
    Null,
}

/// A leaf: its path (by index), its value, and the `(array, element)` pairs it is in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leaf<'e> {
    pub path: u32,
    pub value: Scalar<'e>,
    members: (u32, u32),
}

/// The paths worth keeping: those rules name, and every dotted prefix of them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Paths {
    pub ids: HashMap<String, u32>,
    pub prefixes: HashSet<String>,
}

impl Paths {
    /// The id of `path`, adding it if new.
    pub(crate) fn intern(&mut self, path: &str) -> u32 {
        if let Some(id) = self.ids.get(path) {
            return *id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(path.to_owned(), id);
        for (i, _) in path.match_indices('.') {
            self.prefixes.insert(path[..i].to_owned());
        }
        id
    }
}

/// The flattened event: leaves grouped by path.
pub(crate) struct Flat<'e> {
    pub leaves: Vec<Leaf<'e>>,
    members: Vec<(u32, u32)>,
    /// Whether any leaf sits in an array element.
    pub in_arrays: bool,
}

impl<'e> Flat<'e> {
    /// Flattens `event`, keeping only the leaves under `paths`.
    pub(crate) fn new(event: &'e Value, paths: &Paths) -> Flat<'e> {
        let mut flat = Flat {
            leaves: Vec::new(),
            members: Vec::new(),
            in_arrays: false,
        };
        if let Value::Object(map) = event {
            let mut walk = Walk {
                paths,
                path: String::new(),
                stack: Vec::new(),
                next_array: 0,
            };
            for (key, value) in map {
                walk.member(&mut flat, key, value);
            }
        }
        flat.leaves.sort_by_key(|leaf| leaf.path);
        flat
    }

    /// The leaves at path `id`.
    pub(crate) fn at(&self, id: u32) -> &[Leaf<'e>] {
        let start = self.leaves.partition_point(|l| l.path < id);
        let end = self.leaves.partition_point(|l| l.path <= id);
        &self.leaves[start..end]
    }

    /// Whether two leaves can be taken together: none sits in one element of an array
    /// while the other sits in a different element of the same array.
    pub(crate) fn consistent(&self, a: &Leaf, b: &Leaf) -> bool {
        let ma = &self.members[a.members.0 as usize..][..a.members.1 as usize];
        let mb = &self.members[b.members.0 as usize..][..b.members.1 as usize];
        ma.iter()
            .all(|(array, index)| mb.iter().all(|(other, at)| other != array || at == index))
    }
}

struct Walk<'p> {
    paths: &'p Paths,
    path: String,
    stack: Vec<(u32, u32)>,
    next_array: u32,
}

impl Walk<'_> {
    fn member<'e>(&mut self, flat: &mut Flat<'e>, key: &str, value: &'e Value) {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        let id = self.paths.ids.get(self.path.as_str()).copied();
        let descend = self.paths.prefixes.contains(self.path.as_str());
        if id.is_some() || descend {
            self.value(flat, id, descend, value);
        }
        self.path.truncate(len);
    }

    fn value<'e>(&mut self, flat: &mut Flat<'e>, id: Option<u32>, descend: bool, value: &'e Value) {
        let scalar = match value {
            Value::String(s) => Scalar::Str(s),
            Value::Number(n) => Scalar::Num(n),
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Null => Scalar::Null,
            Value::Object(map) => {
                if descend {
                    for (key, inner) in map {
                        self.member(flat, key, inner);
                    }
                }
                return;
            }
            Value::Array(items) => {
                let array = self.next_array;
                self.next_array += 1;
                for (index, item) in items.iter().enumerate() {
                    self.stack.push((array, index as u32));
                    self.value(flat, id, descend, item);
                    self.stack.pop();
                }
                return;
            }
        };
        if let Some(path) = id {
            let start = flat.members.len() as u32;
            flat.members.extend_from_slice(&self.stack);
            flat.in_arrays |= !self.stack.is_empty();
            flat.leaves.push(Leaf {
                path,
                value: scalar,
                members: (start, self.stack.len() as u32),
            });
        }
    }
}

/// Reads JSON text keeping only what rules can look at: members whose path (under
/// `root`) is a rule's path or leads to one. Everything else is skipped unbuilt.
pub(crate) fn parse_pruned(text: &str, paths: &Paths, root: &str) -> serde_json::Result<Value> {
    use serde::de::DeserializeSeed;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Pruned {
        paths,
        path: root.to_owned(),
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct Pruned<'p> {
    paths: &'p Paths,
    path: String,
}

impl<'de> serde::de::DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Pruned<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Pruned {
            paths: self.paths,
            path: self.path.clone(),
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = serde_json::Map::new();
        let mut child = self.path.clone();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            child.truncate(self.path.len());
            if !child.is_empty() {
                child.push('.');
            }
            child.push_str(&key);
            if self.paths.ids.contains_key(child.as_str())
                || self.paths.prefixes.contains(child.as_str())
            {
                let value = map.next_value_seed(Pruned {
                    paths: self.paths,
                    path: child.clone(),
                })?;
                members.insert(key.into_owned(), value);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(Value::Object(members))
    }
}
