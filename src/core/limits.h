/* limits.h: hard ceilings that no setting can raise, each with its reason. The settings that
 * tune these limits (and their defaults and ranges) are in config.h. */
#ifndef CG_CORE_LIMITS_H
#define CG_CORE_LIMITS_H

/* Body bytes read for a request admitted without a key (an open route, a CORS preflight, the
 * model list when it is not protected): none of them takes a body, and nothing beyond a small
 * cap is buffered for a client before it is authenticated. */
#define CG_UNAUTHENTICATED_BODY_MAX_BYTES 1024

/* A caller-supplied X-Request-Id longer than this is replaced by our own. */
#define CG_REQUEST_ID_MAX_BYTES 128

/* Bytes received on a connection while its current request is handled (pipelining); reading
 * pauses above this until the response is done. */
#define CG_PIPELINE_BUFFER_MAX_BYTES (64 * 1024)

/* How long a connection we are closing keeps reading (and discarding) so that the client
 * sees our response before a reset. */
#define CG_LINGER_MS 2000

/* Response headers a handler may add (CORS, Allow, Retry-After, ...). */
#define CG_EXTRA_HEADERS_MAX_BYTES 4096

/* Reads handled per wakeup are bounded by libuv; a response write queue above this pauses
 * reading of pipelined requests. */
#define CG_WRITE_QUEUE_HIGH_BYTES (1024 * 1024)

/* Bytes held for all clients together (request bodies being buffered plus response bytes not
 * yet written) are capped by PROXY_CLIENT_BUFFER_MAX_BYTES, whose range in config.h ends here:
 * past it a body is refused (503) and a client with unsent output is closed, so the process
 * never holds more for its clients however many connect. */
#define CG_CLIENT_BUFFER_CEILING_BYTES (16ull * 1024 * 1024 * 1024)

/* Chunk extensions (";name=value" after a chunk size) we skip per chunk line. Nothing reads
 * them, and without a cap one chunk line could stream gigabytes that count as no body. */
#define CG_CHUNK_EXTENSION_MAX_BYTES 1024

/* Request Access-Control-Request-Headers we echo back at most. */
#define CG_CORS_ECHO_MAX_BYTES 1024

/* Text assembled from one request: instructions, a prompt, one message's parts, text held back
 * while it may be the start of a stop sequence. The request itself is at most
 * PROXY_MAX_BODY_BYTES (config.h, up to 256 MiB). */
#define CG_REQUEST_TEXT_MAX_BYTES (64 * 1024 * 1024)

/* One choice's answer (its content or its reasoning) as kept for a whole body or for
 * reconciling Codex's deltas: a turn may stream without end, and WORKER_MAX_LINE_BYTES bounds
 * only one message of it. */
#define CG_ANSWER_TEXT_MAX_BYTES (256 * 1024 * 1024)

/* Bytes a client socket may hold unsent in the kernel (TCP_NOTSENT_LOWAT); the rest waits in
 * the gateway's queue, where the per-stream bound and the client budget count it. */
#define CG_KERNEL_UNSENT_MAX_BYTES (128 * 1024)

/* One response body or one batch of stream output, with every choice in it. */
#define CG_RESPONSE_OUT_MAX_BYTES (512 * 1024 * 1024)

/* Choices in one request: each is a Codex turn of its own. The ceiling of
 * PROXY_MAX_CHAT_CHOICES. */
#define CG_CHOICES_MAX 128

/* Output items (reasoning, messages, function calls) in one Responses API response. */
#define CG_RESPONSE_ITEMS_MAX 4096

/* Stored responses one previous_response_id chain may replay: each is read and replayed into
 * the new turn's thread, so the chain's length bounds the store's work and the replayed input of
 * one request (and a chain that loops through ids stops here). */
#define CG_RESPONSE_CHAIN_MAX 1000

/* Stored bytes one previous_response_id chain may replay: the replayed items become one request
 * to a worker, so they are bounded as a request body is (twice PROXY_MAX_BODY_BYTES' default). */
#define CG_RESPONSE_CHAIN_MAX_BYTES (32 * 1024 * 1024)

/* item_reference items in one Responses request: each is looked up in the store before the
 * request is parsed, in one job. */
#define CG_RESPONSE_REFS_MAX 256

/* Client tools in one request; each becomes a dynamic tool in Codex's thread. */
#define CG_TOOLS_MAX 128

/* Bytes queued towards one worker's stdin: past this it is not reading, and it is killed and
 * restarted rather than buffered for without end. */
#define CG_WORKER_STDIN_QUEUE_MAX_BYTES (64 * 1024 * 1024)

/* Rate-limit buckets (one per key id seen; keys are configured, so this is far above any real
 * count) and peers tracked for the failed-auth slowdown (the oldest is evicted when full: a
 * flood from many addresses forgets its oldest, and is still slowed per address). */
#define CG_RATELIMIT_KEYS_MAX  4096
#define CG_RATELIMIT_PEERS_MAX 4096
/* A key id or a peer address as the rate limiter keeps it. */
#define CG_RATELIMIT_ID_MAX_BYTES 64

/* Usage ledger rows recorded and not yet committed (about 1 KiB each): past this (the disk
 * stalls, or fails) a row is dropped and counted as lost rather than held in memory without end. */
#define CG_LEDGER_QUEUE_MAX 10000
/* A recorded row waits at most this long for its batch to be written (or for 256 rows, or a
 * read): one commit, and its fsync, per interval instead of per few requests. A crash loses at
 * most this much of the ledger; a clean stop loses nothing. */
#define CG_LEDGER_FLUSH_MS 100

#endif
