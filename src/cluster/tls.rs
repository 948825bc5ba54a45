//! TLS settings: verified against the cluster's CA (`--ca-cert`) or the public roots by default;
//! verification off only with `--insecure`.

use std::path::Path;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::ClusterError;

/// Reads the CA certificates of a PEM file, checking each is usable as a trust anchor.
pub fn read_ca_certificates(path: &Path) -> Result<Vec<Certificate<'static>>, ClusterError> {
    let bad = |problem: String| ClusterError::CaCert {
        path: path.to_path_buf(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut reader = std::io::Cursor::new(pem);
    let mut store = rustls::RootCertStore::empty();
    let mut certificates = Vec::new();
    for item in rustls_pemfile::certs(&mut reader) {
        let der = item.map_err(|e| bad(format!("not a PEM file: {e}")))?;
        store
            .add(der.clone())
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
        certificates.push(Certificate::from_der(der.as_ref()).to_owned());
    }
    if certificates.is_empty() {
        return Err(bad(
            "no `-----BEGIN CERTIFICATE-----` block found; give the cluster's CA certificate in PEM form"
                .to_string(),
        ));
    }
    Ok(certificates)
}

/// The TLS configuration for the client.
///
/// With `insecure`, ureq installs a rustls `ServerCertVerifier` that accepts any certificate
/// (signatures are still checked, so the session is encrypted, but the peer is not
/// authenticated); callers warn about it.
pub fn tls_config(ca_cert: Option<&Path>, insecure: bool) -> Result<TlsConfig, ClusterError> {
    let mut builder = TlsConfig::builder().provider(TlsProvider::Rustls);
    if let Some(path) = ca_cert {
        builder = builder.root_certs(RootCerts::new_with_certs(&read_ca_certificates(path)?));
    }
    if insecure {
        builder = builder.disable_verification(true);
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "hello").unwrap();
        let err = read_ca_certificates(&path).unwrap_err().to_string();
        assert!(err.contains("BEGIN CERTIFICATE"), "{err}");
        let err = read_ca_certificates(&dir.path().join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
