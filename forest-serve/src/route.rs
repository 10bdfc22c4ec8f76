//! The routing table: a path maps to one [`Route`], which names the route
//! in metrics (a fixed set of labels, whatever paths clients send) and says
//! which methods it answers.

use hyper::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Predict,
    Health,
    Ready,
    OpenApi,
    Docs,
    Metrics,
    Drift,
    V2Server,
    V2Live,
    V2Ready,
    V2Model,
    V2ModelReady,
    V2Infer,
    /// No such path.
    NotFound,
}

/// What a `/v2/models/...` path names: the model, and the version when the
/// path has `/versions/{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPath<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
}

impl Route {
    pub const ALL: [Route; 14] = [
        Route::Predict,
        Route::Health,
        Route::Ready,
        Route::OpenApi,
        Route::Docs,
        Route::Metrics,
        Route::Drift,
        Route::V2Server,
        Route::V2Live,
        Route::V2Ready,
        Route::V2Model,
        Route::V2ModelReady,
        Route::V2Infer,
        Route::NotFound,
    ];

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Route::Predict => "/predict",
            Route::Health => "/health",
            Route::Ready => "/ready",
            Route::OpenApi => "/openapi.json",
            Route::Docs => "/docs",
            Route::Metrics => "/metrics",
            Route::Drift => "/drift",
            Route::V2Server => "/v2",
            Route::V2Live => "/v2/health/live",
            Route::V2Ready => "/v2/health/ready",
            Route::V2Model => "/v2/models/{name}",
            Route::V2ModelReady => "/v2/models/{name}/ready",
            Route::V2Infer => "/v2/models/{name}/infer",
            Route::NotFound => "other",
        }
    }

    /// The route of a path, and the model it names for `/v2/models/...`.
    pub fn of(path: &str) -> (Route, Option<ModelPath<'_>>) {
        let route = match path {
            "/predict" => Route::Predict,
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/openapi.json" => Route::OpenApi,
            "/docs" => Route::Docs,
            "/metrics" => Route::Metrics,
            "/drift" => Route::Drift,
            "/v2" => Route::V2Server,
            "/v2/health/live" => Route::V2Live,
            "/v2/health/ready" => Route::V2Ready,
            _ => return model_route(path),
        };
        (route, None)
    }

    /// Whether the route is part of the Open Inference Protocol, whose
    /// errors have the protocol's shape (`{"error": "message"}`).
    pub fn is_v2(self) -> bool {
        matches!(
            self,
            Route::V2Server
                | Route::V2Live
                | Route::V2Ready
                | Route::V2Model
                | Route::V2ModelReady
                | Route::V2Infer
        )
    }

    /// The methods the route answers, as an `Allow` header value.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Predict | Route::V2Infer => "POST",
            Route::NotFound => "",
            _ => "GET, HEAD",
        }
    }

    pub fn accepts(self, method: &Method) -> bool {
        match self.allow() {
            "POST" => method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

fn model_route(path: &str) -> (Route, Option<ModelPath<'_>>) {
    let not_found = (Route::NotFound, None);
    let Some(rest) = path.strip_prefix("/v2/models/") else {
        return not_found;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, version, tail) = match parts.as_slice() {
        [name, "versions", version, tail @ ..] => (*name, Some(*version), tail),
        [name, tail @ ..] => (*name, None, tail),
        [] => return not_found,
    };
    if name.is_empty() || version == Some("") {
        return not_found;
    }
    let route = match tail {
        [] => Route::V2Model,
        ["ready"] => Route::V2ModelReady,
        ["infer"] => Route::V2Infer,
        _ => return not_found,
    };
    (route, Some(ModelPath { name, version }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths() {
        assert_eq!(Route::of("/v2/models/forest").0, Route::V2Model);
        let (r, m) = Route::of("/v2/models/forest/versions/abc/infer");
        assert_eq!(r, Route::V2Infer);
        assert_eq!(
            m,
            Some(ModelPath {
                name: "forest",
                version: Some("abc")
            })
        );
        assert_eq!(Route::of("/v2/models/forest/ready").0, Route::V2ModelReady);
        assert_eq!(Route::of("/v2/models/").0, Route::NotFound);
        assert_eq!(Route::of("/v2/models/x/y").0, Route::NotFound);
        assert_eq!(Route::of("/predict/").0, Route::NotFound);
        assert!(Route::Predict.accepts(&Method::POST));
        assert!(!Route::Predict.accepts(&Method::GET));
        assert!(Route::Health.accepts(&Method::HEAD));
    }
}
