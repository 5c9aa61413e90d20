use std::fmt;

/// A value broke one of the rules it is parsed with.
///
/// `rule` is a stable, machine-readable code (`"s3_uri.bucket"`, `"length"`, ...)
/// that API clients may match on; `message` says the same for people and names
/// the offending part of the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub rule: &'static str,
    pub message: String,
}

impl RuleError {
    pub fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }

    /// Checks a length in characters against an inclusive range, the way the
    /// Bedrock API documents its limits.
    pub fn check_len(value: &str, what: &str, min: usize, max: usize) -> Result<(), Self> {
        let len = value.chars().count();
        if len < min || len > max {
            let bounds = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(Self::new(
                "length",
                format!("{what} must be {bounds} characters long, got {len}"),
            ));
        }
        Ok(())
    }

    /// Checks free text (descriptions, reasons): a length in characters and no
    /// control characters but tab and newlines.
    pub fn check_text(value: &str, what: &str, max: usize) -> Result<(), Self> {
        Self::check_len(value, what, 0, max)?;
        if let Some(bad) = value
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Self::new(
                "control_character",
                format!("{what} must not contain control characters, found {bad:?}"),
            ));
        }
        Ok(())
    }

    /// Anchors this error at a JSON pointer, for field-level API errors.
    pub fn at(self, pointer: impl Into<String>) -> FieldError {
        FieldError {
            pointer: pointer.into(),
            rule: self.rule,
            message: self.message,
        }
    }
}

/// A rule violation located in a request body by a JSON pointer (RFC 6901).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub pointer: String,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// Escapes one reference token of a JSON pointer (`~` and `/`).
pub fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
