//! What a plugin reads: the detail fields and envelope its `init` declared in its
//! manifest, narrowed by the operator's sidecar, and which fields a transformer's edits
//! may touch.

use serde::Serialize;

use super::Projection;
use super::bindings::Manifest;

/// Who is to blame when what a plugin reads cannot be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blame {
    /// The plugin's manifest is malformed.
    Plugin,
    /// The sidecar's narrowing does not fit the manifest.
    Sidecar,
}

/// What a loaded plugin reads of each event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reads {
    /// The detail fields the plugin declared; empty for the whole detail.
    declared: Vec<String>,
    /// The fields it is handed, when that is not the whole detail: the declared ones, or
    /// the operator's narrowing of them.
    #[serde(rename = "fields")]
    projection: Option<Projection>,
    /// Whether it reads the envelope.
    envelope: bool,
}

impl Reads {
    /// What a plugin whose `init` answered `manifest` reads, narrowed by the sidecar's
    /// `[projection] fields` when there are any.
    pub(crate) fn new(
        manifest: &Manifest,
        narrow: Option<&[String]>,
    ) -> Result<Reads, (Blame, String)> {
        let declared = match manifest.fields.as_slice() {
            [] => None,
            fields => Some(Projection::new(fields).map_err(|reason| {
                (
                    Blame::Plugin,
                    format!(
                        "its manifest's fields are malformed: {}",
                        reason.replace("`projection.fields`", "the manifest")
                    ),
                )
            })?),
        };
        let projection = match narrow {
            None => declared,
            Some(narrow) => {
                if !manifest.fields.is_empty()
                    && let Some(outside) =
                        narrow.iter().find(|field| !within(&manifest.fields, field))
                {
                    return Err((
                        Blame::Sidecar,
                        format!(
                            "`projection.fields`: `{outside}` is not among the fields the \
                             plugin reads ({}); the sidecar may only narrow them to some of \
                             these, or fields inside them",
                            manifest.fields.join(", ")
                        ),
                    ));
                }
                Some(Projection::new(narrow).map_err(|reason| (Blame::Sidecar, reason))?)
            }
        };
        Ok(Reads {
            declared: manifest.fields.clone(),
            projection,
            envelope: manifest.envelope,
        })
    }

    /// The detail fields the plugin declared; empty when it reads the whole detail.
    pub fn declared(&self) -> &[String] {
        &self.declared
    }

    /// The fields the plugin is handed instead of the whole detail, if any.
    pub fn projection(&self) -> Option<&Projection> {
        self.projection.as_ref()
    }

    /// Whether the plugin is handed the envelope.
    pub fn envelope(&self) -> bool {
        self.envelope
    }

    /// Whether a transformer may edit `field`: it declared no fields, or `field` is one
    /// it declared or lies inside one.
    pub(crate) fn may_edit(&self, field: &str) -> bool {
        self.declared.is_empty() || within(&self.declared, field)
    }
}

/// Whether dotted `field` is one of `fields` or lies inside one.
fn within(fields: &[String], field: &str) -> bool {
    fields.iter().any(|declared| {
        field == declared
            || field
                .strip_prefix(declared.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::{Blame, Reads};
    use crate::plugin::bindings::Manifest;

    fn manifest(fields: &[&str]) -> Manifest {
        Manifest {
            fields: fields.iter().map(ToString::to_string).collect(),
            envelope: false,
        }
    }

    fn strings(fields: &[&str]) -> Vec<String> {
        fields.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_declared_fields_are_the_projection_unless_the_sidecar_narrows_them() {
        let reads = Reads::new(&manifest(&["data.type", "data.ip"]), None).unwrap();
        assert_eq!(
            reads.projection().unwrap().fields(),
            ["data.type", "data.ip"]
        );
        let narrowed = Reads::new(
            &manifest(&["data.type", "data.details"]),
            Some(&strings(&["data.details.ip"])),
        )
        .unwrap();
        assert_eq!(narrowed.projection().unwrap().fields(), ["data.details.ip"]);
        assert_eq!(narrowed.declared(), ["data.type", "data.details"]);
        let whole = Reads::new(&manifest(&[]), None).unwrap();
        assert!(whole.projection().is_none());
        let narrowed_whole = Reads::new(&manifest(&[]), Some(&strings(&["data"]))).unwrap();
        assert_eq!(narrowed_whole.projection().unwrap().fields(), ["data"]);
    }

    #[test]
    fn a_sidecar_cannot_widen_and_a_malformed_manifest_is_the_plugins_fault() {
        let (blame, reason) = Reads::new(
            &manifest(&["data.type"]),
            Some(&strings(&["data.typeface"])),
        )
        .unwrap_err();
        assert_eq!(blame, Blame::Sidecar);
        assert!(reason.contains("`data.typeface` is not among"), "{reason}");
        let (blame, reason) = Reads::new(&manifest(&["data..type"]), None).unwrap_err();
        assert_eq!(blame, Blame::Plugin);
        assert!(reason.contains("`data..type` is not a path"), "{reason}");
    }

    #[test]
    fn edits_stay_within_the_declared_fields() {
        let reads = Reads::new(&manifest(&["data.user_name", "data.details"]), None).unwrap();
        assert!(reads.may_edit("data.user_name"));
        assert!(reads.may_edit("data.details.ip"));
        assert!(!reads.may_edit("data.user_names"));
        assert!(!reads.may_edit("data"));
        assert!(
            Reads::new(&manifest(&[]), None)
                .unwrap()
                .may_edit("anything")
        );
    }
}
