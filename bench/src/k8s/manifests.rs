//! The manifests in `k8s/base`, read as kustomize would render them, and
//! applied with server-side apply.
//!
//! Only what the base uses is supported: a `kustomization.yaml` with
//! `namespace`, `labels` (metadata labels, `includeSelectors: false`),
//! `resources` naming YAML files and `images` (`name` with `newName`,
//! `newTag` or `digest`, to pin images by digest). Anything else is refused
//! by name, so the bench never applies something other than what
//! `kubectl apply -k` would.

use std::path::{Path, PathBuf};

use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Api, Client};
use scaler::hpa::{HpaConfig, Rules};
use scaler::PolicyConfig;
use serde_json::{json, Map, Value};

use crate::{Error, Result};

/// The rendered base: every object, namespace and labels applied.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The kustomization's namespace.
    pub namespace: String,
    /// The objects, in the kustomization's order.
    pub objects: Vec<Value>,
}

impl Rendered {
    /// The object of `kind` named `name`.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Cluster(format!("{}: {message}", path.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Kinds that are not namespaced (the namespace is not set on them).
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
    )
}

/// Reads `dir/kustomization.yaml` and the files it lists.
pub fn render(dir: &Path) -> Result<Rendered> {
    let kpath = dir.join("kustomization.yaml");
    let k: Value = serde_saphyr::from_str(&read(&kpath)?).map_err(|e| bad(&kpath, e))?;
    let Some(k) = k.as_object() else {
        return Err(bad(&kpath, "not a mapping"));
    };
    for key in k.keys() {
        if ![
            "apiVersion",
            "kind",
            "namespace",
            "labels",
            "resources",
            "images",
        ]
        .contains(&key.as_str())
        {
            return Err(bad(
                &kpath,
                format!(
                    "`{key}` is not supported by the bench's renderer (use `kubectl apply -k`)"
                ),
            ));
        }
    }
    let namespace = k
        .get("namespace")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&kpath, "`namespace` missing"))?
        .to_owned();
    let mut labels = Map::new();
    for entry in k
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if entry.get("includeSelectors").and_then(Value::as_bool) == Some(true)
            || entry.get("includeTemplates").and_then(Value::as_bool) == Some(true)
        {
            return Err(bad(
                &kpath,
                "`labels` with includeSelectors or includeTemplates is not supported",
            ));
        }
        if let Some(pairs) = entry.get("pairs").and_then(Value::as_object) {
            labels.extend(pairs.clone());
        }
    }
    let images = image_overrides(&kpath, k.get("images"))?;
    let resources = k
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(&kpath, "`resources` missing"))?;
    let mut objects = Vec::new();
    for r in resources {
        let name = r
            .as_str()
            .ok_or_else(|| bad(&kpath, format!("resource {r} is not a file name")))?;
        let path: PathBuf = dir.join(name);
        if !path.is_file() {
            return Err(bad(&kpath, format!("resource `{name}` is not a file")));
        }
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&read(&path)?).map_err(|e| bad(&path, e))?;
        for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
            for field in ["apiVersion", "kind"] {
                if !doc[field].is_string() {
                    return Err(bad(&path, format!("an object without `{field}`")));
                }
            }
            if !doc["metadata"]["name"].is_string() {
                return Err(bad(
                    &path,
                    format!("a {} without metadata.name", doc["kind"]),
                ));
            }
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let meta = doc["metadata"]
                .as_object_mut()
                .ok_or_else(|| bad(&path, "metadata is not a mapping"))?;
            if !cluster_scoped(&kind) {
                meta.insert("namespace".into(), json!(namespace));
            }
            if !labels.is_empty() {
                let l = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = l.as_object_mut() {
                    for (key, v) in &labels {
                        l.insert(key.clone(), v.clone());
                    }
                }
            }
            for list in ["containers", "initContainers"] {
                // `get_mut`, not indexing: indexing would insert nulls.
                let Some(cs) = doc
                    .get_mut("spec")
                    .and_then(|v| v.get_mut("template"))
                    .and_then(|v| v.get_mut("spec"))
                    .and_then(|v| v.get_mut(list))
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for c in cs {
                    let Some(image) = c["image"].as_str() else {
                        continue;
                    };
                    if let Some(new) = override_image(&images, image) {
                        c["image"] = json!(new);
                    }
                }
            }
            objects.push(doc);
        }
    }
    Ok(Rendered { namespace, objects })
}

/// One `images` entry: containers whose image is `name` (any tag or
/// digest) get `new_name` and then the digest, else the tag.
#[derive(Clone, Debug)]
struct ImageOverride {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
    digest: Option<String>,
}

fn image_overrides(kpath: &Path, images: Option<&Value>) -> Result<Vec<ImageOverride>> {
    let Some(images) = images else {
        return Ok(Vec::new());
    };
    let list = images
        .as_array()
        .ok_or_else(|| bad(kpath, "`images` is not a list"))?;
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let m = e
            .as_object()
            .ok_or_else(|| bad(kpath, format!("images[{i}] is not a mapping")))?;
        let text = |key: &str| -> Result<Option<String>> {
            match m.get(key) {
                None => Ok(None),
                Some(Value::String(v)) => Ok(Some(v.clone())),
                Some(v) => Err(bad(kpath, format!("images[{i}].{key} is not text: {v}"))),
            }
        };
        for key in m.keys() {
            if !["name", "newName", "newTag", "digest"].contains(&key.as_str()) {
                return Err(bad(
                    kpath,
                    format!("images[{i}]: `{key}` is not supported by the bench's renderer"),
                ));
            }
        }
        let name =
            text("name")?.ok_or_else(|| bad(kpath, format!("images[{i}]: `name` missing")))?;
        let digest = text("digest")?;
        if let Some(d) = &digest {
            let hex = d.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(
                    kpath,
                    format!("images[{i}].digest must be `sha256:` and 64 hex digits, got `{d}`"),
                ));
            }
        }
        out.push(ImageOverride {
            name,
            new_name: text("newName")?,
            new_tag: text("newTag")?,
            digest,
        });
    }
    Ok(out)
}

/// The image `image` becomes under `overrides`, if one matches its name.
fn override_image(overrides: &[ImageOverride], image: &str) -> Option<String> {
    // The name is what precedes `@digest`, or `:tag` after the last `/`.
    let name = match image.split_once('@') {
        Some((n, _)) => n,
        None => match image.rfind(':') {
            Some(i) if !image[i..].contains('/') => &image[..i],
            _ => image,
        },
    };
    let o = overrides.iter().find(|o| o.name == name)?;
    let base = o.new_name.as_deref().unwrap_or(name);
    Some(match (&o.digest, &o.new_tag) {
        (Some(d), _) => format!("{base}@{d}"),
        (None, Some(t)) => format!("{base}:{t}"),
        (None, None) => match image.strip_prefix(name) {
            Some(rest) => format!("{base}{rest}"),
            None => base.to_string(),
        },
    })
}

/// Applies `object` server-side as `field_manager`, taking ownership of
/// conflicting fields (the bench is the source of truth for them).
pub async fn apply(client: &Client, object: &Value, field_manager: &str) -> Result<()> {
    let (group, version) = match object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split_once('/')
    {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap_or_default().to_owned(),
        ),
    };
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let gvk = GroupVersionKind::gvk(&group, &version, kind);
    let what = format!("{kind}/{name}");
    // The base's kinds are known; anything else is looked up.
    let (ar, namespaced) = match known_kind(&gvk) {
        Some(v) => v,
        None => {
            let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|e| Error::Cluster(format!("apply {what}: looking up the kind: {e}")))?;
            (ar, caps.scope == Scope::Namespaced)
        }
    };
    let api: Api<DynamicObject> = match (namespaced, object["metadata"]["namespace"].as_str()) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    };
    let params = PatchParams::apply(field_manager).force();
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(|e| Error::Cluster(format!("apply {what}: {e}")))?;
    Ok(())
}

/// The API resource of a kind the base uses, and whether it is namespaced.
fn known_kind(gvk: &GroupVersionKind) -> Option<(ApiResource, bool)> {
    let (plural, namespaced) = match (gvk.group.as_str(), gvk.version.as_str(), gvk.kind.as_str()) {
        ("", "v1", "Namespace") => ("namespaces", false),
        ("", "v1", "ConfigMap") => ("configmaps", true),
        ("", "v1", "Service") => ("services", true),
        ("", "v1", "ServiceAccount") => ("serviceaccounts", true),
        ("apps", "v1", "Deployment") => ("deployments", true),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => ("horizontalpodautoscalers", true),
        ("rbac.authorization.k8s.io", "v1", "Role") => ("roles", true),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => ("rolebindings", true),
        ("networking.k8s.io", "v1", "NetworkPolicy") => ("networkpolicies", true),
        _ => return None,
    };
    Some((ApiResource::from_gvk_with_plural(gvk, plural), namespaced))
}

fn rules(r: &Rules) -> Value {
    let mut out = Map::new();
    if let Some(w) = r.stabilization_window_s {
        out.insert("stabilizationWindowSeconds".into(), json!(w));
    }
    if let Some(s) = &r.select_policy {
        out.insert("selectPolicy".into(), json!(s));
    }
    if let Some(ps) = &r.policies {
        let list: Vec<Value> = ps
            .iter()
            .map(|p| json!({"type": p.kind, "value": p.value, "periodSeconds": p.period_s}))
            .collect();
        out.insert("policies".into(), json!(list));
    }
    if let Some(t) = r.tolerance {
        // A quantity; the HPAConfigurableTolerance feature gate must be on.
        out.insert("tolerance".into(), json!(format!("{t}")));
    }
    Value::Object(out)
}

/// The `autoscaling/v2` HorizontalPodAutoscaler for a campaign's HPA arm.
/// The controller-manager settings of the policy (sync period, tolerance,
/// CPU initialisation period, readiness delay, default downscale window)
/// are the cluster's flags, not fields of the object.
pub fn hpa_object(namespace: &str, name: &str, target: &str, c: &HpaConfig) -> Value {
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": c.min_replicas,
        "maxReplicas": c.max_replicas,
        "metrics": [{
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": c.target_cpu_utilization}}
        }]
    });
    if let Some(b) = &c.behavior {
        let mut behavior = Map::new();
        if let Some(r) = &b.scale_up {
            behavior.insert("scaleUp".into(), rules(r));
        }
        if let Some(r) = &b.scale_down {
            behavior.insert("scaleDown".into(), rules(r));
        }
        spec["behavior"] = Value::Object(behavior);
    }
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"bench.userscale.io/arm": "hpa", "app.kubernetes.io/part-of": "userscale-bench"}
        },
        "spec": spec
    })
}

/// The scaler's policy ConfigMap holding `policy` as TOML.
pub fn policy_config_map(namespace: &str, name: &str, policy: &PolicyConfig) -> Result<Value> {
    let text = toml::to_string(policy)
        .map_err(|e| Error::Cluster(format!("writing the scaler's policy as TOML: {e}")))?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "userscale-bench"}
        },
        "data": {"policy.toml": text}
    }))
}
