//! Projection inside the pipeline: handing a plugin only the fields it reads, and applying
//! a transformer's edits to the whole detail. The detail is scanned once per event, on the
//! first projected call that needs all of it; [`DetailState`] keeps what is known of it
//! from one plugin to the next. A filter needs only its own fields: their scan stops once
//! it found them, so an event a filter drops is never scanned to its end.

use super::output::Fault;
use crate::event::Event;
use crate::health::FailureCode;
use crate::plugin::{Edit, Merged, Projection, Projector, ScanFor, Spans, edit_detail};

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
    fn spans(&self) -> Option<&Spans> {
        self.scan.as_ref()?.as_ref()
    }
}

/// Every plugin's projection, and the projector that serves them all.
pub(super) struct Projecting {
    /// One per plugin, in the set's order.
    projections: Vec<Option<Projection>>,
    /// One per plugin: whether it is a filter, handed its fields as soon as the scan
    /// found them (the rest of the detail is scanned only for events that go on).
    early: Vec<bool>,
    /// All of them together, when there is one.
    projector: Option<Projector>,
    /// The projected detail of the call in progress; its allocation is reused.
    scratch: String,
}

impl Projecting {
    /// Projections, one per plugin, and `early`, whether each is a filter.
    pub(super) fn new(projections: Vec<Option<Projection>>, early: Vec<bool>) -> Self {
        let projector = Projector::new(&projections.iter().map(Option::as_ref).collect::<Vec<_>>());
        Projecting {
            projections,
            early,
            projector,
            scratch: String::new(),
        }
    }

    /// Runs `call` on `event` as plugin `index` is to see it: with only the fields its
    /// projection declares, if it has one and the detail could be scanned.
    #[inline]
    pub(super) fn around<T>(
        &mut self,
        index: usize,
        event: &mut Event,
        state: &mut DetailState,
        call: impl FnOnce(&Event) -> T,
    ) -> T {
        let mut projected = std::mem::take(&mut self.scratch);
        if self.project(index, event, state, &mut projected) {
            let full = std::mem::replace(&mut event.detail, projected);
            let result = call(event);
            // The buffer is kept for the next call.
            self.scratch = std::mem::replace(&mut event.detail, full);
            result
        } else {
            self.scratch = projected;
            call(event)
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
        if state.scan.is_none() && self.early[index] {
            match projector.scan_for(index, &event.detail) {
                ScanFor::Found(spans) => {
                    // Enough for this filter; nothing is known of the rest yet.
                    projector.project_into(index, projection, &event.detail, &spans, out);
                    return true;
                }
                ScanFor::Whole(scan) => state.scan = Some(scan),
            }
        }
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

    /// Scans `event`'s detail to its end if no plugin needed that yet (a filter's scan
    /// stops at its fields), so that an event going on to delivery is known to pass the
    /// checks there as it would have been had the filter seen it whole.
    pub(super) fn finish(&self, event: &Event, state: &mut DetailState) {
        if state.valid || state.scan.is_some() {
            return;
        }
        if let Some(projector) = &self.projector {
            let scan = projector.scan(&event.detail);
            state.valid = scan.is_some();
            state.scan = Some(scan);
        }
    }

    /// Applies `edits` (already checked) to `event`'s detail: in place when the scan
    /// found every edited field, else by rewriting the objects on their paths. `None`
    /// when they changed nothing; otherwise the new detail, with what is known of it.
    pub(super) fn edit(
        &self,
        event: &Event,
        state: &DetailState,
        edits: &[Edit],
    ) -> Result<Option<(String, DetailState)>, Fault> {
        let malformed = |reason| Fault::new(FailureCode::MalformedOutput, reason);
        if let (Some(projector), Some(spans)) = (&self.projector, state.spans()) {
            return Ok(
                match projector
                    .apply(&event.detail, spans, edits)
                    .map_err(malformed)?
                {
                    Merged::Unchanged => None,
                    // The scanned detail passed the checks, and so did every edit's value.
                    Merged::Changed { detail, spans } => Some((
                        detail,
                        DetailState {
                            scan: spans.map(Some),
                            valid: true,
                        },
                    )),
                },
            );
        }
        let detail = edit_detail(&event.detail, edits).map_err(malformed)?;
        Ok((detail != event.detail).then_some((
            detail,
            DetailState {
                scan: None,
                valid: state.valid,
            },
        )))
    }
}
