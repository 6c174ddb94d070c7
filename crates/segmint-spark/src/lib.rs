//! A Spark Connect client: runs SQL on a Spark Connect server (Spark 3.4+) and streams the
//! result back as Arrow record batches.
//!
//! ```no_run
//! use segmint_spark::SparkSession;
//!
//! let mut spark = SparkSession::connect("sc://127.0.0.1:15002")?;
//! spark.command("SET spark.sql.session.timeZone = UTC")?;
//! let batches = spark.sql("SELECT 1 AS one")?;
//! assert_eq!(batches[0].num_rows(), 1);
//! # Ok::<(), segmint::Error>(())
//! ```
//!
//! Only what segmint needs of the protocol: `ExecutePlan` with a SQL relation (a query whose
//! rows come back) or a SQL command (run for its effect: `SET`, `CREATE TEMPORARY VIEW`,
//! `INSERT OVERWRITE DIRECTORY`). The messages are declared here with prost, with the field
//! numbers of `spark/connect/base.proto`, `relations.proto` and `commands.proto` (fields we do
//! not send are absent; fields the server sends that we do not read are skipped by prost), so
//! the build needs no protoc. Hand-written instead of the `apache-spark-connect` crate: that
//! crate pins arrow 58 (segmint uses arrow 60, and two arrow versions double the build) and
//! generates its messages with protoc at build time. Every request carries the same session id,
//! so temporary views live as long as the `SparkSession`.
//!
//! Connection strings: `sc://HOST[:PORT][/;key=value;...]` with the Spark Connect keys
//! `user_id` and `session_id`; PORT defaults to 15002. TLS (`use_ssl=true`, `token=`) is not
//! supported (this client speaks plain HTTP/2, for a server on a trusted network or through a
//! tunnel), and asking for it is an error rather than a silent downgrade.

use std::time::Duration;

use arrow_array::RecordBatch;

use segmint::{Error, Result};

mod proto {
    //! Subset of the Spark Connect protocol (package `spark.connect`).

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecutePlanRequest {
        #[prost(string, tag = "1")]
        pub session_id: String,
        #[prost(message, optional, tag = "2")]
        pub user_context: Option<UserContext>,
        #[prost(message, optional, tag = "3")]
        pub plan: Option<Plan>,
        #[prost(string, optional, tag = "4")]
        pub client_type: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UserContext {
        #[prost(string, tag = "1")]
        pub user_id: String,
        #[prost(string, tag = "2")]
        pub user_name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Plan {
        #[prost(oneof = "plan::OpType", tags = "1, 2")]
        pub op_type: Option<plan::OpType>,
    }

    pub mod plan {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum OpType {
            #[prost(message, tag = "1")]
            Root(super::Relation),
            #[prost(message, tag = "2")]
            Command(super::Command),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Relation {
        #[prost(oneof = "relation::RelType", tags = "10")]
        pub rel_type: Option<relation::RelType>,
    }

    pub mod relation {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum RelType {
            #[prost(message, tag = "10")]
            Sql(super::Sql),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sql {
        #[prost(string, tag = "1")]
        pub query: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Command {
        #[prost(oneof = "command::CommandType", tags = "5")]
        pub command_type: Option<command::CommandType>,
    }

    pub mod command {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum CommandType {
            #[prost(message, tag = "5")]
            SqlCommand(super::SqlCommand),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SqlCommand {
        /// The statement (deprecated in Spark 4 in favour of `input`, still honoured; the
        /// only form Spark 3.4 and 3.5 know).
        #[prost(string, tag = "1")]
        pub sql: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecutePlanResponse {
        #[prost(string, tag = "1")]
        pub session_id: String,
        #[prost(oneof = "execute_plan_response::ResponseType", tags = "2, 14")]
        pub response_type: Option<execute_plan_response::ResponseType>,
    }

    pub mod execute_plan_response {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum ResponseType {
            #[prost(message, tag = "2")]
            ArrowBatch(super::ArrowBatch),
            #[prost(message, tag = "14")]
            ResultComplete(super::ResultComplete),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ArrowBatch {
        #[prost(int64, tag = "1")]
        pub row_count: i64,
        /// An Arrow IPC stream: the schema, then the record batch(es).
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResultComplete {}
}

/// A parsed `sc://` connection string.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub host: String,
    pub port: u16,
    pub user_id: String,
    pub session_id: Option<String>,
}

impl Remote {
    /// Parses `sc://HOST[:PORT][/;key=value;...]`.
    pub fn parse(url: &str) -> Result<Remote> {
        let bad = |why: &str| Error::Config(format!("--spark-remote {url:?}: {why}"));
        let rest = url
            .strip_prefix("sc://")
            .ok_or_else(|| bad("expected sc://HOST:PORT"))?;
        let (hostport, params) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad(&format!("port {p:?} is not a number 1..65535")))?,
            ),
            _ => (hostport, 15002),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let mut remote = Remote {
            host: host.to_string(),
            port,
            user_id: std::env::var("USER").unwrap_or_else(|_| "segmint".into()),
            session_id: None,
        };
        for kv in params.split(';').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(&format!("parameter {kv:?} is not key=value")))?;
            match k {
                "user_id" => remote.user_id = v.to_string(),
                "session_id" => remote.session_id = Some(v.to_string()),
                "use_ssl" if v.eq_ignore_ascii_case("false") => {}
                "use_ssl" | "token" => {
                    return Err(bad(
                        "TLS and tokens are not supported by segmint's Spark Connect client; \
                         reach the server over a trusted network or an SSH tunnel",
                    ))
                }
                "user_agent" => {}
                other => return Err(bad(&format!("unknown parameter {other:?}"))),
            }
        }
        Ok(remote)
    }
}

/// A random version-4 UUID (Spark Connect wants session ids in that form). Not a seeded
/// choice: a session id does not affect any result.
fn new_session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A session on a Spark Connect server.
pub struct SparkSession {
    rt: tokio::runtime::Runtime,
    channel: tonic::transport::Channel,
    remote: Remote,
    session_id: String,
}

impl SparkSession {
    /// Connects to `sc://HOST:PORT` (fails when nothing answers within 20 seconds).
    pub fn connect(url: &str) -> Result<SparkSession> {
        let remote = Remote::parse(url)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the Spark Connect client: {e}")))?;
        let host = if remote.host.contains(':') && !remote.host.starts_with('[') {
            format!("[{}]", remote.host)
        } else {
            remote.host.clone()
        };
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://{host}:{}", remote.port))
                .map_err(|e| Error::Config(format!("--spark-remote {url:?}: {e}")))?
                .connect_timeout(Duration::from_secs(20))
                .tcp_nodelay(true);
        let channel = rt.block_on(endpoint.connect()).map_err(|e| {
            Error::Config(format!(
                "cannot reach the Spark Connect server at {}:{}: {e} (is it running? \
                 start one with testdata/spark_connect_server.sh)",
                remote.host, remote.port
            ))
        })?;
        let session_id = remote.session_id.clone().unwrap_or_else(new_session_id);
        Ok(SparkSession {
            rt,
            channel,
            remote,
            session_id,
        })
    }

    /// The session id every request carries.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    fn execute(&mut self, op: proto::plan::OpType, what: &str) -> Result<Vec<RecordBatch>> {
        let req = proto::ExecutePlanRequest {
            session_id: self.session_id.clone(),
            user_context: Some(proto::UserContext {
                user_id: self.remote.user_id.clone(),
                user_name: self.remote.user_id.clone(),
            }),
            plan: Some(proto::Plan { op_type: Some(op) }),
            client_type: Some(format!("segmint/{}", env!("CARGO_PKG_VERSION"))),
        };
        let channel = self.channel.clone();
        let remote = format!("{}:{}", self.remote.host, self.remote.port);
        let first_line = what.lines().next().unwrap_or("").trim().to_string();
        self.rt.block_on(async move {
            let fail = |e: tonic::Status| {
                Error::Config(format!(
                    "Spark at {remote} refused {first_line:?}...: {}",
                    e.message().lines().next().unwrap_or("").trim()
                ))
            };
            let mut grpc = tonic::client::Grpc::new(channel)
                .max_decoding_message_size(1 << 30)
                .max_encoding_message_size(1 << 30);
            grpc.ready().await.map_err(|e| {
                Error::Config(format!("Spark Connect server at {remote} not ready: {e}"))
            })?;
            let path = http::uri::PathAndQuery::from_static(
                "/spark.connect.SparkConnectService/ExecutePlan",
            );
            let codec = tonic_prost::ProstCodec::<
                proto::ExecutePlanRequest,
                proto::ExecutePlanResponse,
            >::default();
            let mut stream = grpc
                .server_streaming(tonic::Request::new(req), path, codec)
                .await
                .map_err(fail)?
                .into_inner();
            let mut batches = Vec::new();
            while let Some(msg) = stream.message().await.map_err(fail)? {
                if let Some(proto::execute_plan_response::ResponseType::ArrowBatch(b)) =
                    msg.response_type
                {
                    let reader = arrow_ipc::reader::StreamReader::try_new(
                        std::io::Cursor::new(b.data),
                        None,
                    )
                    .map_err(|e| Error::Config(format!("Spark sent unreadable Arrow data: {e}")))?;
                    for batch in reader {
                        let batch = batch.map_err(|e| {
                            Error::Config(format!("Spark sent unreadable Arrow data: {e}"))
                        })?;
                        if batch.num_rows() > 0 || batches.is_empty() {
                            batches.push(batch);
                        }
                    }
                }
            }
            Ok(batches)
        })
    }

    /// Runs a query and returns its rows (at least one batch, possibly empty, with the
    /// result's schema).
    pub fn sql(&mut self, query: &str) -> Result<Vec<RecordBatch>> {
        let rel = proto::Relation {
            rel_type: Some(proto::relation::RelType::Sql(proto::Sql {
                query: query.to_string(),
            })),
        };
        self.execute(proto::plan::OpType::Root(rel), query)
    }

    /// Runs a statement for its effect (`SET`, `CREATE TEMPORARY VIEW`, `INSERT ...`).
    pub fn command(&mut self, statement: &str) -> Result<()> {
        let cmd = proto::Command {
            command_type: Some(proto::command::CommandType::SqlCommand(proto::SqlCommand {
                sql: statement.to_string(),
            })),
        };
        self.execute(proto::plan::OpType::Command(cmd), statement)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls() {
        let r = Remote::parse("sc://127.0.0.1:15003/;user_id=ana").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.user_id.as_str()),
            ("127.0.0.1", 15003, "ana")
        );
        assert_eq!(Remote::parse("sc://spark").unwrap().port, 15002);
        for bad in [
            "http://x:1",
            "sc://:1",
            "sc://x:99999",
            "sc://x:1/;token=abc",
            "sc://x:1/;what=1",
        ] {
            assert!(Remote::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_ids_are_uuid_v4() {
        let a = new_session_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]));
        assert_ne!(a, new_session_id());
    }
}
