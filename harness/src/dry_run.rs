//! `harness import --dry-run`: what a run would change, compared with the
//! store change by change. The run's transaction is rolled back at the end,
//! so nothing is committed and no watermark advances; the run history
//! records the run as `DryRun`.

use std::collections::BTreeMap;

use connector_api::{Change, ChangeKind};
use serde::Serialize;

use crate::engine::PurgeRefusal;
use crate::store::{RunTransaction, StoreError};

/// How many examples of each kind of change the report keeps per type.
pub const EXAMPLES: usize = 10;

/// What a dry run would have done, per object type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunReport {
    /// Per object type, in name order.
    pub types: BTreeMap<String, DryRunType>,
    /// The types whose deletions the threshold would refuse (a real run
    /// would then commit nothing).
    pub would_refuse: Vec<PurgeRefusal>,
    /// The watermark a real run would commit, when it would advance.
    pub would_commit_watermark: Option<String>,
}

/// What a dry run would do to one object type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunType {
    /// Objects that would be created (new, or deleted before and back).
    pub create: DryRunKind,
    /// Live objects whose attributes would change.
    pub update: DryRunKind,
    /// Live objects a Delete change would delete.
    pub delete: DryRunKind,
    /// Live objects a complete full run would purge (not seen).
    pub purge: DryRunKind,
    /// Upserts of live objects that change nothing.
    pub unchanged: u64,
    /// For updates: how many would change each attribute.
    pub changed_attributes: BTreeMap<String, u64>,
}

/// A count and up to [`EXAMPLES`] examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunKind {
    /// How many.
    pub count: u64,
    /// The first ones, in emission order.
    pub examples: Vec<DryRunExample>,
}

/// One example object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunExample {
    /// Its external id.
    pub external_id: String,
    /// For an update: the attributes that would change, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_attributes: Vec<String>,
}

impl DryRunKind {
    fn add(&mut self, external_id: &str, changed_attributes: Vec<String>) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(DryRunExample {
                external_id: external_id.to_string(),
                changed_attributes,
            });
        }
    }
}

/// What one change would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    Create,
    Update(Vec<String>),
    Unchanged,
    Delete,
    /// A Delete of an object that is not live (or new in this run).
    Nothing,
}

/// Compares `change` with the object as the run's transaction sees it
/// (before the change is applied).
pub(crate) fn classify(
    tx: &RunTransaction<'_>,
    instance: &str,
    run_id: i64,
    change: &Change,
) -> Result<Effect, StoreError> {
    let current = tx.object_state(instance, &change.object_type, &change.external_id)?;
    Ok(match (change.kind, current) {
        (ChangeKind::Upsert, None) => Effect::Create,
        (ChangeKind::Upsert, Some(state)) if state.deleted => Effect::Create,
        (ChangeKind::Upsert, Some(state)) => {
            let old = state.attributes;
            let new = match serde_json::to_value(&change.attributes) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            let mut changed: Vec<String> = old
                .keys()
                .chain(new.keys())
                .filter(|k| old.get(*k) != new.get(*k))
                .cloned()
                .collect();
            changed.sort();
            changed.dedup();
            if changed.is_empty() {
                Effect::Unchanged
            } else {
                Effect::Update(changed)
            }
        }
        (ChangeKind::Delete, Some(state)) if !state.deleted && state.first_seen_run != run_id => {
            Effect::Delete
        }
        (ChangeKind::Delete, _) => Effect::Nothing,
    })
}

impl DryRunReport {
    /// Counts one change's effect.
    pub(crate) fn add(&mut self, change: &Change, effect: Effect) {
        let t = self.types.entry(change.object_type.clone()).or_default();
        let id = change.external_id.as_str();
        match effect {
            Effect::Create => t.create.add(id, Vec::new()),
            Effect::Update(attrs) => {
                for a in &attrs {
                    *t.changed_attributes.entry(a.clone()).or_default() += 1;
                }
                t.update.add(id, attrs);
            }
            Effect::Unchanged => t.unchanged += 1,
            Effect::Delete => t.delete.add(id, Vec::new()),
            Effect::Nothing => {}
        }
    }

    /// Records a purge of `count` objects of `object_type`, `examples` of them.
    pub(crate) fn add_purge(&mut self, object_type: &str, count: u64, examples: Vec<String>) {
        let t = self.types.entry(object_type.to_string()).or_default();
        t.purge.count += count;
        for id in examples.into_iter().take(EXAMPLES) {
            t.purge.examples.push(DryRunExample {
                external_id: id,
                changed_attributes: Vec::new(),
            });
        }
    }
}
