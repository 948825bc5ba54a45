//! Certificates generated at start: the cluster's CA with one leaf per node, and a second,
//! untrusted CA whose leaves a node serves under `Fault::WrongCertificate`.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

/// A certificate authority able to sign node certificates.
pub struct Authority {
    certificate: Certificate,
    key: KeyPair,
}

fn tls_error(error: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("generating test certificates: {error}"))
}

impl Authority {
    /// A fresh self-signed CA with this common name.
    pub fn generate(common_name: &str) -> io::Result<Self> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name.push(DnType::OrganizationName, "rmpack emulated cluster");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(tls_error)?;
        let certificate = params.self_signed(&key).map_err(tls_error)?;
        Ok(Self { certificate, key })
    }

    /// The CA certificate in PEM.
    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// A TLS server configuration presenting a leaf for these addresses and `localhost`.
    pub fn server_config(&self, addresses: &[IpAddr]) -> io::Result<Arc<ServerConfig>> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        let common_name = addresses
            .first()
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "localhost".into());
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.subject_alt_names = addresses.iter().map(|ip| SanType::IpAddress(*ip)).collect();
        params
            .subject_alt_names
            .push(SanType::DnsName("localhost".try_into().map_err(tls_error)?));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(tls_error)?;
        let leaf = params
            .signed_by(&key, &self.certificate, &self.key)
            .map_err(tls_error)?;
        let chain = vec![leaf.der().clone(), self.certificate.der().clone()];
        let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
