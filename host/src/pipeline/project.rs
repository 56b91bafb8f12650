//! Projection inside the pipeline: handing a plugin only the fields its sidecar declares,
//! and merging a projected transformer's answer back into the whole detail. The detail
//! is scanned once per event, on the first projected call; [`DetailState`] keeps what is
//! known of it from one plugin to the next.

use super::output::Fault;
use crate::event::Event;
use crate::plugin::{Merged, Projection, Projector, Spans};

/// What the pipeline knows of the current event's detail.
#[derive(Debug, Clone, Default)]
pub(super) struct DetailState {
    /// The projected fields' places, once scanned; `Some(None)` when the detail could not
    /// be scanned (it is then handed over whole).
    pub(super) scan: Option<Option<Spans>>,
    /// The detail passed EventBridge's checks: scanned, or checked as a transformer's
    /// output.
    pub(super) valid: bool,
}

impl DetailState {
    /// What is known after a transformer's whole (not projected) answer was checked.
    pub(super) fn checked() -> Self {
        DetailState {
            scan: None,
            valid: true,
        }
    }

    fn spans(&self) -> Option<&Spans> {
        self.scan.as_ref()?.as_ref()
    }
}

/// Every plugin's projection, and the projector that serves them all.
pub(super) struct Projecting {
    /// One per plugin, in the set's order.
    projections: Vec<Option<Projection>>,
    /// All of them together, when there is one.
    projector: Option<Projector>,
    /// The projected detail of the call in progress; its allocation is reused.
    scratch: String,
}

impl Projecting {
    pub(super) fn new(projections: Vec<Option<Projection>>) -> Self {
        let projector = Projector::new(&projections.iter().map(Option::as_ref).collect::<Vec<_>>());
        Projecting {
            projections,
            projector,
            scratch: String::new(),
        }
    }

    /// Runs `call` on `event` as plugin `index` is to see it: with only the fields its
    /// projection declares, if it has one and the detail could be scanned. Says whether
    /// the call was projected.
    #[inline]
    pub(super) fn around<T>(
        &mut self,
        index: usize,
        event: &mut Event,
        state: &mut DetailState,
        call: impl FnOnce(&Event) -> T,
    ) -> (T, bool) {
        let mut projected = std::mem::take(&mut self.scratch);
        if self.project(index, event, state, &mut projected) {
            let full = std::mem::replace(&mut event.detail, projected);
            let result = call(event);
            // The buffer is kept for the next call.
            self.scratch = std::mem::replace(&mut event.detail, full);
            (result, true)
        } else {
            self.scratch = projected;
            (call(event), false)
        }
    }

    /// Writes the detail plugin `index` is to see into `out`, if it declares a
    /// projection: the detail is scanned once, on the first projected call, and the scan
    /// kept in `state`. `false` when the plugin is to see the whole detail.
    fn project(
        &self,
        index: usize,
        event: &Event,
        state: &mut DetailState,
        out: &mut String,
    ) -> bool {
        let (Some(projector), Some(projection)) = (&self.projector, &self.projections[index])
        else {
            return false;
        };
        let scan = state
            .scan
            .get_or_insert_with(|| projector.scan(&event.detail));
        let Some(spans) = scan.as_ref() else {
            return false;
        };
        state.valid = true;
        projector.project_into(index, projection, &event.detail, spans, out);
        true
    }

    /// Merges the answer `next` of projected transformer `index` into the full detail of
    /// `event`. `Ok(None)` when it changed nothing (`next.detail` is then left empty);
    /// otherwise `next.detail` becomes the merged detail, with what is known of it.
    pub(super) fn merge(
        &self,
        index: usize,
        event: &Event,
        state: &DetailState,
        next: &mut Event,
    ) -> Result<Option<DetailState>, Fault> {
        let projector = self.projector.as_ref().expect("a projected call");
        let projection = self.projections[index].as_ref().expect("a projected call");
        let spans = state
            .spans()
            .expect("a projected call had its fields found");
        let merged = projector
            .merge(index, projection, &event.detail, spans, &next.detail)
            .map_err(|reason| Fault::new(crate::health::FailureCode::MalformedOutput, reason))?;
        Ok(match merged {
            Merged::Unchanged => {
                next.detail = String::new();
                None
            }
            Merged::Changed { detail, spans } => {
                next.detail = detail;
                // The scanned detail passed the checks and the merged values did too.
                Some(DetailState {
                    scan: spans.map(Some),
                    valid: true,
                })
            }
        })
    }
}
