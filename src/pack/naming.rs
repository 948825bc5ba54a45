//! Where the zip goes: the default file name, `--output` paths, folders and templates.

use std::path::{Path, PathBuf};

/// The file name the Redis module repositories use, e.g. `rejson.Linux-ubuntu18.04-x86_64.2.0.8.zip`.
pub const DEFAULT_TEMPLATE: &str = crate::manifest::layout::ZIP_NAME_TEMPLATE;
/// The `{os}` of a module that names no operating system.
pub const GENERIC_OS: &str = "generic";
/// The fields a template may use.
pub const TEMPLATE_FIELDS: &[&str] = &["module_name", "os", "arch", "semantic_version", "version"];

/// Errors in `--output` values.
#[derive(Debug, thiserror::Error)]
pub enum NamingError {
    /// A `{field}` the template language does not know.
    #[error("output template `{template}` uses unknown field `{{{field}}}`; known fields: {known}", known = TEMPLATE_FIELDS.iter().map(|f| format!("{{{f}}}")).collect::<Vec<_>>().join(", "))]
    UnknownField {
        /// The template.
        template: String,
        /// The unknown field.
        field: String,
    },
    /// A `{` without `}` or the other way round.
    #[error("output template `{0}` has an unmatched `{{` or `}}`")]
    Unbalanced(String),
    /// A field value that would change the folder of the output or is empty.
    #[error("output template field `{{{field}}}` is `{value}`, which cannot be part of a file name (it is empty, `.`/`..`, or holds a path separator); give --output a plain path instead")]
    UnsafeValue {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The template names no file.
    #[error("output `{0}` names no file")]
    NoFileName(String),
}

/// The values a template is filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFields {
    /// `module_name` of module.json.
    pub module_name: String,
    /// First operating system, or [`GENERIC_OS`].
    pub os: String,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    /// `major.minor.patch`.
    pub semantic_version: String,
    /// The integer version.
    pub version: String,
}

impl NameFields {
    fn get(&self, field: &str) -> Option<(&'static str, &str)> {
        match field {
            "module_name" => Some(("module_name", &self.module_name)),
            "os" => Some(("os", &self.os)),
            "arch" => Some(("arch", &self.arch)),
            "semantic_version" => Some(("semantic_version", &self.semantic_version)),
            "version" => Some(("version", &self.version)),
            _ => None,
        }
    }
}

/// What `--output` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The default name in the current folder.
    Default,
    /// The default name in this folder.
    Dir(PathBuf),
    /// Exactly this file.
    File(PathBuf),
    /// A path with `{fields}`.
    Template(String),
}

impl OutputSpec {
    /// Reads an `--output` value: a template when it holds `{`, a folder when it is one (or ends
    /// with `/`), else a file path. Templates are checked here, before any work is done.
    pub fn parse(raw: Option<&Path>) -> Result<Self, NamingError> {
        let Some(raw) = raw else {
            return Ok(OutputSpec::Default);
        };
        let text = raw.to_string_lossy();
        if text.contains('{') || text.contains('}') {
            check_template(&text)?;
            return Ok(OutputSpec::Template(text.into_owned()));
        }
        if text.ends_with('/') || raw.is_dir() {
            return Ok(OutputSpec::Dir(raw.to_path_buf()));
        }
        Ok(OutputSpec::File(raw.to_path_buf()))
    }

    /// The output path for a module with `fields`.
    pub fn resolve(&self, fields: &NameFields) -> Result<PathBuf, NamingError> {
        let path = match self {
            OutputSpec::Default => PathBuf::from(render(DEFAULT_TEMPLATE, fields)?),
            OutputSpec::Dir(dir) => dir.join(render(DEFAULT_TEMPLATE, fields)?),
            OutputSpec::File(path) => path.clone(),
            OutputSpec::Template(template) => PathBuf::from(render(template, fields)?),
        };
        if path.file_name().is_none() {
            return Err(NamingError::NoFileName(path.display().to_string()));
        }
        Ok(path)
    }
}

/// Checks that every `{field}` of `template` is known and braces match.
pub fn check_template(template: &str) -> Result<(), NamingError> {
    for piece in pieces(template)? {
        if let Piece::Field(field) = piece {
            if !TEMPLATE_FIELDS.contains(&field) {
                return Err(NamingError::UnknownField {
                    template: template.to_string(),
                    field: field.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Fills `template` with `fields`, refusing values that would add or leave folders.
pub fn render(template: &str, fields: &NameFields) -> Result<String, NamingError> {
    let mut out = String::with_capacity(template.len() + 32);
    for piece in pieces(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Field(field) => {
                let (name, value) = fields.get(field).ok_or_else(|| NamingError::UnknownField {
                    template: template.to_string(),
                    field: field.to_string(),
                })?;
                if value.is_empty()
                    || value == "."
                    || value == ".."
                    || value.contains(['/', '\\', '\0'])
                {
                    return Err(NamingError::UnsafeValue {
                        field: name,
                        value: value.to_string(),
                    });
                }
                out.push_str(value);
            }
        }
    }
    Ok(out)
}

enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, NamingError> {
    let unbalanced = || NamingError::Unbalanced(template.to_string());
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                out.push(Piece::Text(rest));
                break;
            }
            Some(at) if rest[at..].starts_with('}') => return Err(unbalanced()),
            Some(at) => {
                if at > 0 {
                    out.push(Piece::Text(&rest[..at]));
                }
                let after = &rest[at + 1..];
                let end = after.find('}').ok_or_else(unbalanced)?;
                let field = &after[..end];
                if field.contains('{') {
                    return Err(unbalanced());
                }
                out.push(Piece::Field(field));
                rest = &after[end + 1..];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> NameFields {
        NameFields {
            module_name: "rejson".into(),
            os: "ubuntu18.04".into(),
            arch: "x86_64".into(),
            semantic_version: "2.0.8".into(),
            version: "20008".into(),
        }
    }

    #[test]
    fn default_name_follows_the_module_repos() {
        let path = OutputSpec::Default.resolve(&fields()).unwrap();
        assert_eq!(path, Path::new("rejson.Linux-ubuntu18.04-x86_64.2.0.8.zip"));
        let dir = tempfile::tempdir().unwrap();
        let spec = OutputSpec::parse(Some(dir.path())).unwrap();
        assert_eq!(
            spec.resolve(&fields()).unwrap(),
            dir.path().join("rejson.Linux-ubuntu18.04-x86_64.2.0.8.zip")
        );
        let spec = OutputSpec::parse(Some(Path::new("out/x.zip"))).unwrap();
        assert_eq!(spec.resolve(&fields()).unwrap(), Path::new("out/x.zip"));
    }

    #[test]
    fn templates_fill_known_fields_and_refuse_unknown_ones() {
        let spec =
            OutputSpec::parse(Some(Path::new("dist/{module_name}-{version}-{arch}.zip"))).unwrap();
        assert_eq!(
            spec.resolve(&fields()).unwrap(),
            Path::new("dist/rejson-20008-x86_64.zip")
        );
        let err = OutputSpec::parse(Some(Path::new("{name}.zip"))).unwrap_err();
        assert!(err.to_string().contains("{name}"), "{err}");
        assert!(OutputSpec::parse(Some(Path::new("{os.zip"))).is_err());
        assert!(OutputSpec::parse(Some(Path::new("os}.zip"))).is_err());
    }

    #[test]
    fn field_values_cannot_move_the_output() {
        let mut hostile = fields();
        hostile.module_name = "../../etc/x".into();
        let err = OutputSpec::Default.resolve(&hostile).unwrap_err();
        assert!(
            matches!(
                err,
                NamingError::UnsafeValue {
                    field: "module_name",
                    ..
                }
            ),
            "{err}"
        );
        hostile.module_name = "..".into();
        assert!(render("{module_name}", &hostile).is_err());
    }
}
