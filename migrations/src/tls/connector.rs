//! The rustls client configuration a connection's settings ask for: the CAs, the client
//! certificate, and the verifiers of libpq's modes that do not check everything.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

use crate::tls::settings::{RootCert, SslMode, TlsSettings, Verification};

/// The rustls configuration for `settings`. Errors name the file and parameter at fault.
pub(super) fn client_config(settings: &TlsSettings) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .dangerous();
    let verification = settings.verification();
    let verifier: Arc<dyn ServerCertVerifier> = if verification == Verification::None {
        Arc::new(AnyCertificate(provider))
    } else {
        let roots = settings.roots().ok_or_else(|| {
            format!(
                "sslmode={} needs the CA that signed the server's certificate: set sslrootcert to its file, or sslrootcert=system",
                settings.mode()
            )
        })?;
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(root_store(&roots, settings.mode())?),
            provider,
        )
        .build()
        .map_err(|error| format!("cannot use the CAs of {roots}: {error}"))?;
        if verification == Verification::Full {
            webpki
        } else {
            Arc::new(AnyHostName(webpki))
        }
    };
    let builder = builder.with_custom_certificate_verifier(verifier);
    let mut config = match settings.client_identity_paths() {
        Some((cert, key)) => {
            let chain = read_certificates(&cert, "sslcert")?;
            let key = PrivateKeyDer::from_pem_file(&key).map_err(|_| {
                format!(
                    "sslkey {} cannot be read as a PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    key.display()
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|error| {
                format!("sslcert and sslkey do not make a client identity: {error}")
            })?
        }
        None => builder.with_no_client_auth(),
    };
    // Required by servers that take direct TLS connections (PostgreSQL 17+), ignored by others.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

fn root_store(roots: &RootCert, mode: SslMode) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
        RootCert::File(path) => {
            if !path.exists() {
                return Err(format!(
                    "root certificate file {} does not exist; sslmode={mode} needs the CA that signed the server's certificate: set sslrootcert to its file, or sslrootcert=system",
                    path.display()
                ));
            }
            store.add_parsable_certificates(read_certificates(path, "sslrootcert")?);
        }
    }
    if store.is_empty() {
        return Err(format!("{roots} holds no usable CA certificate"));
    }
    Ok(store)
}

fn read_certificates(path: &Path, parameter: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| match error {
            rustls::pki_types::pem::Error::Io(io) => {
                format!("cannot read {parameter} file {}: {io}", path.display())
            }
            _ => format!(
                "{parameter} file {} is not a PEM certificate file",
                path.display()
            ),
        })?;
    if certificates.is_empty() {
        return Err(format!(
            "{parameter} file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certificates)
}

/// `allow`, `prefer`, and `require` without a CA: encrypted, the server not authenticated (libpq
/// does the same). The handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

/// `verify-ca`: the chain must lead to a trusted CA; the host name is not checked. webpki checks
/// the chain before the name, so a name error means the chain passed.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
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
