//! Where the load goes on a cluster: a given Service URL, or one kube-rs
//! port-forward per ready pod.
//!
//! With port-forwards the bench itself spreads requests over the ready
//! pods (the scenario's routing: random or round-robin), as kube-proxy
//! would; each pod gets a loopback listener, and every connection to it
//! becomes a port-forward stream to the pod through the API server. With a
//! Service URL, the cluster's own Service routing applies and the pod that
//! served a request is not known.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::loadgen::Target;
use crate::route::Router;
use crate::{Error, Result};

/// A fixed Service address; the serving pod is unknown.
pub struct ServiceUrl(pub SocketAddr);

impl Target for ServiceUrl {
    fn pick(&self) -> Option<(Option<u32>, SocketAddr)> {
        Some((None, self.0))
    }
}

/// Parses `http://host:port[/]` into a socket address (resolving the host).
pub fn parse_service_url(url: &str) -> Result<SocketAddr> {
    let bad = |m: &str| Error::Cluster(format!("service URL `{url}`: {m}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("must start with http://"))?;
    let hostport = rest.trim_end_matches('/');
    if hostport.contains('/') {
        return Err(bad("must not have a path (the bench posts to /compute)"));
    }
    let with_port = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .map_err(|e| bad(&e.to_string()))?
        .next()
        .ok_or_else(|| bad("resolves to no address"))
}

struct Inner {
    /// Serving pods in pod order: (pod number, listener).
    ready: Vec<(u32, SocketAddr)>,
    /// Listener per pod name, kept for the whole trial.
    listeners: HashMap<String, (u32, SocketAddr)>,
    router: Router,
}

/// One loopback listener per ready pod, each forwarding to that pod.
pub struct PortForwards {
    pods: Api<Pod>,
    port: u16,
    inner: Mutex<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl PortForwards {
    /// Forwards to `port` of the pods of `pods`, picking among the ready
    /// ones with `router`.
    pub fn new(pods: Api<Pod>, port: u16, router: Router) -> PortForwards {
        PortForwards {
            pods,
            port,
            inner: Mutex::new(Inner {
                ready: Vec::new(),
                listeners: HashMap::new(),
                router,
            }),
            tasks: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the ready set `serving` (pod name, pod number), opening a
    /// listener for each pod seen for the first time. Call from the
    /// runtime the forwards run on.
    pub async fn set_ready(&self, serving: &[(String, u32)]) -> Result<()> {
        for (name, num) in serving {
            if self.lock().listeners.contains_key(name) {
                continue;
            }
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Error::Cluster(format!("port-forward listener: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::Cluster(format!("port-forward listener: {e}")))?;
            let task = tokio::spawn(accept_loop(
                listener,
                self.pods.clone(),
                name.clone(),
                self.port,
            ));
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
            self.lock().listeners.insert(name.clone(), (*num, addr));
        }
        let mut inner = self.lock();
        let ready: Vec<(u32, SocketAddr)> = serving
            .iter()
            .filter_map(|(name, _)| inner.listeners.get(name).copied())
            .collect();
        inner.ready = ready;
        Ok(())
    }

    /// Stops every listener.
    pub fn close(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

impl Target for PortForwards {
    fn pick(&self) -> Option<(Option<u32>, SocketAddr)> {
        let inner = &mut *self.lock();
        let (pod, addr) = inner.router.pick(&inner.ready, || None)?;
        Some((Some(pod), addr))
    }
}

async fn accept_loop(listener: TcpListener, pods: Api<Pod>, name: String, port: u16) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let (pods, name) = (pods.clone(), name.clone());
        tokio::spawn(async move {
            let Ok(mut pf) = pods.portforward(&name, &[port]).await else {
                return; // dropping the connection: the client sees a reset
            };
            if let Some(mut upstream) = pf.take_stream(port) {
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
            }
            drop(pf);
        });
    }
}
