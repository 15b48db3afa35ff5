//! What a step reports: done (and whether it changed anything), or waiting on AWS.

use serde_json::{Map, Value};

/// Whether a step writes, or only says what it would write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

/// What a converging step did (or, in a plan, would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Created,
    Exists,
    Updated,
}

impl Change {
    /// The word a deploy reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Exists => "exists",
            Self::Updated => "updated",
        }
    }

    /// The word a plan reports.
    pub fn planned(self) -> &'static str {
        match self {
            Self::Created => "create",
            Self::Exists => "exists",
            Self::Updated => "update",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Self::Created, Self::Exists, Self::Updated]
            .into_iter()
            .find(|c| c.as_str() == word)
    }

    /// The stronger of two changes, for a step that did several things.
    pub fn and(self, other: Change) -> Change {
        match (self, other) {
            (Self::Created, _) | (_, Self::Created) => Self::Created,
            (Self::Updated, _) | (_, Self::Updated) => Self::Updated,
            _ => Self::Exists,
        }
    }
}

/// A step that finished: its change, a sentence for people, and facts for the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    pub change: Change,
    pub detail: String,
    pub facts: Map<String, Value>,
}

impl Done {
    pub fn new(change: Change, detail: impl Into<String>) -> Self {
        Self {
            change,
            detail: detail.into(),
            facts: Map::new(),
        }
    }

    pub fn fact(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.facts.insert(name.to_owned(), value.into());
        self
    }
}

/// How a step ended this time.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Done(Done),
    /// AWS is still working (IAM propagating, a function provisioning, a deployment
    /// propagating, the edge not yet answering): look again later.
    Waiting {
        detail: String,
    },
}

impl Outcome {
    pub fn waiting(detail: impl Into<String>) -> Self {
        Self::Waiting {
            detail: detail.into(),
        }
    }
}
