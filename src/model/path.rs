//! Parameter paths such as `blocks.0.conv.weight`, tracked while a visitor or mapper walks a
//! module.

/// The current module path during a walk. Enum variant names are left out, so a network keeps
/// the same parameter names whether or not it is wrapped in an architecture enum.
#[derive(Default)]
pub struct ModulePath {
    segments: Vec<Option<String>>,
}

impl ModulePath {
    /// Enters a field or variant; burn names enum containers `Enum:<type>`.
    pub fn enter(&mut self, name: &str, container_type: &str) {
        let is_variant = container_type.starts_with("Enum:");
        self.segments.push((!is_variant).then(|| name.to_string()));
    }

    /// Leaves the innermost field or variant.
    pub fn exit(&mut self) {
        self.segments.pop();
    }

    /// Returns the dotted path of the current position.
    pub fn joined(&self) -> String {
        self.segments.iter().flatten().cloned().collect::<Vec<_>>().join(".")
    }
}
