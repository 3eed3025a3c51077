//! [`AppState`]: what a sample's routes share, the verifier and, in development mode, the
//! embedded issuer that the development routes serve.

use std::ops::Deref;
use std::sync::Arc;

use api_auth::Auth;

use crate::dev_mode::DevMode;

/// The verifier of one sample process, with its development mode when it runs one. Clones
/// share everything. It dereferences to [`Auth`], so a route calls the library directly
/// (`app.authenticate(&head)`).
#[derive(Clone, Debug)]
pub struct AppState {
    auth: Auth,
    dev: Option<Arc<DevMode>>,
}

impl AppState {
    /// A process that verifies with `auth`, in development mode when `dev` is given.
    pub fn new(auth: Auth, dev: Option<DevMode>) -> Self {
        Self {
            auth,
            dev: dev.map(Arc::new),
        }
    }

    /// The verifier.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The development mode, when this process runs one.
    pub fn dev_mode(&self) -> Option<&DevMode> {
        self.dev.as_deref()
    }

    /// Whether this process runs the embedded development issuer.
    pub fn is_development(&self) -> bool {
        self.dev.is_some()
    }
}

impl Deref for AppState {
    type Target = Auth;

    fn deref(&self) -> &Auth {
        &self.auth
    }
}
