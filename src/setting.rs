//! A setting out of range, named as the library names it, so that each front end can name it
//! as its users write it: `--view-res` on the command line, `res=` in Python.

/// A setting that cannot be run: which one, by its library name (the snake_case field of
/// [`crate::extract::FeatureSettings`] or [`crate::train::TrainConfig`], as `view_res` or
/// `lr`), and what is wrong with its value (`is 4; it must lie between 8 and 512`). Displayed
/// as the two together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} {problem}")]
pub struct InvalidSetting {
    /// The setting's library name.
    pub name: &'static str,
    /// What is wrong, as the rest of a sentence that starts with the setting's name.
    pub problem: String,
}

impl InvalidSetting {
    pub(crate) fn new(name: &'static str, problem: impl Into<String>) -> Self {
        InvalidSetting {
            name,
            problem: problem.into(),
        }
    }

    /// The whole message, `invalid setting: ...` as [`crate::Error`] and
    /// [`crate::extract::ExtractError`] show it, with the setting named by `rename` instead (a
    /// flag, a keyword argument).
    pub fn named(&self, rename: impl Fn(&'static str) -> String) -> String {
        format!("invalid setting: {} {}", rename(self.name), self.problem)
    }

    /// The whole message with the setting named as the command line's flag (`view_res` becomes
    /// `--view-res`): every setting's flag is its name in kebab case.
    pub fn as_flag(&self) -> String {
        self.named(|n| format!("--{}", n.replace('_', "-")))
    }
}
