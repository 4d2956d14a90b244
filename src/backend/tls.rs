//! TLS from the proxy to its backends (`tls_mode` of a data source), with MySQL's ssl-mode meanings:
//! `required` encrypts without checking the certificate, `verify_ca` checks that the data source's `tls_ca`
//! signed it, `verify_identity` also that it names the server's address.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

use crate::config::rules::{BackendTls, DataSourceRule};

/// Checks certificates as the mode asks; the handshake's signatures are always verified.
#[derive(Debug)]
struct Verifier {
    /// Chain (and name) checks; none in `required` mode.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// Accept a certificate that does not name the server (verify_ca).
    ignore_name: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(webpki) = &self.webpki else { return Ok(ServerCertVerified::assertion()) };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) if self.ignore_name => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client settings for `rule`, or `None` when its `tls_mode` is `disabled`. Built per new
/// connection: pools reuse connections, so this is rare, and a reload that changes `tls_ca` takes effect.
pub fn connector(rule: &DataSourceRule) -> Result<Option<tokio_rustls::TlsConnector>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = match (rule.tls_mode, &rule.tls_ca) {
        (BackendTls::Disabled, _) => return Ok(None),
        (BackendTls::Required, _) => None,
        (_, None) => return Err("tls_mode verify_ca / verify_identity needs tls_ca (the CA certificate, PEM) in the data source".into()),
        (_, Some(ca)) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("tls_ca {}: {e}", ca.display()))? {
                roots.add(cert.map_err(|e| format!("tls_ca {}: {e}", ca.display()))?).map_err(|e| format!("tls_ca {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().map_err(|e| e.to_string())?;
            Some(verifier)
        }
    };
    let verifier = Verifier { webpki, ignore_name: rule.tls_mode == BackendTls::VerifyCa, provider: provider.clone() };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(config))))
}
