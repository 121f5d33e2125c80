// The AWS SDK for JavaScript v3 against one endpoint, for tests/integ/test_s3_edge.py:
//   NODE_PATH=DIR/node_modules node js_sdk_put.cjs ENDPOINT BUCKET KEY_PREFIX
// Uploads the same bytes three ways with the SDK's default flexible checksums (CRC32 in an
// x-amz-trailer over aws-chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER, for streams), reads each
// back and prints one JSON line per case: what the SDK sent (payload hash, trailer, framing)
// and what came back (status or error, length and sha256 of the object read back).
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; no retries.
// CommonJS, so that the SDK is found through NODE_PATH (ES modules ignore it).
const { createHash } = require("node:crypto");
const { Readable } = require("node:stream");
const { S3Client, PutObjectCommand, GetObjectCommand } = require("@aws-sdk/client-s3");

const [endpoint, bucket, prefix] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint, region: "us-east-1", forcePathStyle: true, maxAttempts: 1,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
});
let sent = {};
s3.middlewareStack.add((next) => async (args) => {
  const h = args.request.headers || {};
  const pick = (n) => h[n] ?? h[Object.keys(h).find((k) => k.toLowerCase() === n)];
  sent = {
    payload: pick("x-amz-content-sha256"), trailer: pick("x-amz-trailer") ?? null,
    encoding: pick("content-encoding") ?? null, length: pick("content-length") ?? null,
    te: pick("transfer-encoding") ?? null,
  };
  return next(args);
}, { step: "finalizeRequest", priority: "low", name: "s3lbRecordHeaders" });

const data = Buffer.alloc(300 * 1024);
for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
const sha = (b) => createHash("sha256").update(b).digest("hex");

function chunks(buf, n) {
  return Readable.from((function* () { for (let i = 0; i < buf.length; i += n) yield buf.subarray(i, i + n); })());
}

const cases = [
  ["buffer", () => ({ Body: data })],
  ["stream-known-length", () => ({ Body: chunks(data, 64 * 1024), ContentLength: data.length })],
  ["stream-crc32", () => ({ Body: chunks(data, 64 * 1024), ContentLength: data.length, ChecksumAlgorithm: "CRC32" })],
];
async function main() {
for (const [name, body] of cases) {
  const key = `${prefix}${name}`;
  const out = { case: name };
  try {
    const r = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, ...body() }));
    out.put = r.$metadata.httpStatusCode;
  } catch (e) {
    out.put = `${e.$metadata?.httpStatusCode ?? "-"} ${e.name}`;
  }
  out.sent = sent;
  try {
    const g = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const b = Buffer.from(await g.Body.transformToByteArray());
    out.get = { length: b.length, same: sha(b) === sha(data) };
  } catch (e) {
    out.get = `${e.$metadata?.httpStatusCode ?? "-"} ${e.name}`;
  }
  console.log(JSON.stringify(out));
}
}
main().catch((e) => { console.error(e); process.exit(1); });
