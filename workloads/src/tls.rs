//! TLS for every connection dbtuner makes, with libpq's `sslmode` meanings:
//!
//! | mode | encrypted | certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | – | – |
//! | `prefer` (default) | when the server offers it | no | no |
//! | `require` | yes | no (yes against `sslrootcert` when one is given, as libpq) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! The certificates are checked against `sslrootcert` (a PEM file) when given, else the
//! system's store (`sslrootcert=system` says so explicitly). MySQL URLs may use MySQL's names
//! (`ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY`, `ssl-ca=FILE`). One
//! rustls configuration (on ring) serves the lean client, tokio-postgres and mysql_async.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

/// How hard a connection insists on TLS and what it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// libpq's names, or MySQL's (`--ssl-mode`), case-insensitively for MySQL's.
    pub fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => match other.to_ascii_uppercase().as_str() {
                "DISABLED" => SslMode::Disable,
                "PREFERRED" => SslMode::Prefer,
                "REQUIRED" => SslMode::Require,
                "VERIFY_CA" => SslMode::VerifyCa,
                "VERIFY_IDENTITY" => SslMode::VerifyFull,
                _ => return None,
            },
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// TLS is not optional.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RootCerts {
    /// The system's store (`/etc/ssl/certs` and the like).
    System,
    File(PathBuf),
}

/// The TLS part of a target URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// `sslrootcert` / `ssl-ca`; `None` means the system's store for the verify modes.
    pub root: Option<RootCerts>,
}

/// What the certificate check of a connection amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

impl TlsSettings {
    /// The certificate must lead to a trusted root.
    pub fn checks_chain(&self) -> bool {
        self.check() != Check::Nothing
    }

    /// The certificate must name the host connected to.
    pub fn checks_name(&self) -> bool {
        self.check() == Check::ChainAndName
    }

    fn check(&self) -> Check {
        match self.mode {
            SslMode::VerifyFull => Check::ChainAndName,
            SslMode::VerifyCa => Check::Chain,
            // libpq: a root certificate given to `require` makes it verify the chain.
            SslMode::Require if matches!(self.root, Some(RootCerts::File(_))) => Check::Chain,
            _ => Check::Nothing,
        }
    }

    /// The rustls configuration for these settings, built once per process and reused (the
    /// driver opens many connections; the system store is parsed once).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        static CACHE: OnceLock<Mutex<HashMap<TlsSettings, Arc<ClientConfig>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(found) = cache.lock().ok().and_then(|c| c.get(self).cloned()) {
            return Ok(found);
        }
        let built = Arc::new(self.build()?);
        if let Ok(mut c) = cache.lock() {
            c.insert(self.clone(), built.clone());
        }
        Ok(built)
    }

    fn build(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let check = self.check();
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(NoCertificateCheck(provider)),
            Check::Chain | Check::ChainAndName => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| e.to_string())?;
                if check == Check::Chain {
                    Arc::new(ChainOnly(webpki))
                } else {
                    webpki
                }
            }
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.root {
            Some(RootCerts::File(path)) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "sslrootcert {}: no PEM certificate in the file",
                        path.display()
                    ));
                }
                for cert in certs {
                    store
                        .add(cert)
                        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                }
            }
            None | Some(RootCerts::System) => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(format!(
                        "sslmode={} needs trusted CA certificates and the system has none readable; give sslrootcert=FILE",
                        self.mode.as_str()
                    ));
                }
            }
        }
        Ok(store)
    }

    /// The server name to check the certificate against (an IP address or a DNS name).
    pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(bare.to_string())
            .map_err(|e| format!("'{host}' is not a name TLS can check: {e}"))
    }
}

/// `prefer` and `require` without a root: encrypted, but anyone's certificate is accepted
/// (libpq does the same). The handshake signatures are still checked, so the server holds
/// the key of the certificate it shows.
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name in it is not compared with
/// the host. WebPKI checks the chain first and the name last, so a name error means the
/// chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_of_names_parse() {
        assert_eq!(SslMode::parse("verify-full"), Some(SslMode::VerifyFull));
        assert_eq!(SslMode::parse("VERIFY_IDENTITY"), Some(SslMode::VerifyFull));
        assert_eq!(SslMode::parse("preferred"), Some(SslMode::Prefer));
        assert_eq!(SslMode::parse("allow"), None);
        assert_eq!(SslMode::parse("Verify-Full"), None);
    }

    #[test]
    fn require_with_a_root_checks_the_chain_as_libpq_does() {
        let with_root = TlsSettings {
            mode: SslMode::Require,
            root: Some(RootCerts::File("/x.pem".into())),
        };
        assert_eq!(with_root.check(), Check::Chain);
        assert_eq!(TlsSettings::default().check(), Check::Nothing);
        let system = TlsSettings {
            mode: SslMode::Require,
            root: Some(RootCerts::System),
        };
        assert_eq!(system.check(), Check::Nothing);
    }
}
