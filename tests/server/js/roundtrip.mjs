// The official Twelve Labs JavaScript SDK against a Twelve Labs-compatible server, unchanged: the
// SDK reads the base URL from TWELVELABS_BASE_URL (its constructor takes only the key). Prints one
// JSON object with what the SDK returned; any SDK error exits non-zero (tests/server/test_server_sdk_js.py).
import fs from "node:fs";
import { TwelveLabs } from "twelvelabs-js";

const [video] = process.argv.slice(2);
const client = new TwelveLabs({ apiKey: process.env.TWELVE_LABS_API_KEY });
const POLL_SECONDS = 0.5;
const MAX_POLLS = 240;

const segments = (transcription) =>
  transcription == null ? null : transcription.map((s) => ({ value: s.value, language: s.language ?? null }));

async function collect(page, limit = 500) {
  const items = [];
  for await (const item of page) {
    items.push(item);
    if (items.length >= limit) break;
  }
  return items;
}

async function assetsPath(indexId) {
  let asset = await client.assets.create({ method: "direct", file: fs.createReadStream(video) });
  for (let i = 0; asset.status === "processing" && i < MAX_POLLS; i++) {
    await new Promise((resolve) => setTimeout(resolve, POLL_SECONDS * 1000));
    asset = await client.assets.retrieve(asset.id);
  }
  const created = await client.indexes.indexedAssets.create(indexId, { assetId: asset.id });
  let indexed = await client.indexes.indexedAssets.retrieve(indexId, created.id);
  for (let i = 0; !["ready", "failed"].includes(indexed.status) && i < MAX_POLLS; i++) {
    await new Promise((resolve) => setTimeout(resolve, POLL_SECONDS * 1000));
    indexed = await client.indexes.indexedAssets.retrieve(indexId, created.id);
  }
  const detailed = await client.indexes.indexedAssets.retrieve(indexId, created.id, { transcription: true });
  return {
    asset_id: asset.id,
    asset_status: asset.status,
    indexed_asset_id: created.id,
    status: detailed.status,
    filename: detailed.systemMetadata?.filename ?? null,
    language: detailed.language ?? null,
    segments: segments(detailed.transcription),
  };
}

const index = await client.indexes.create({
  indexName: `js-sdk-${Date.now()}`,
  models: [{ modelName: "marengo3.0", modelOptions: ["visual", "audio"] }],
});
const task = await client.tasks.create({ indexId: index.id, videoFile: fs.createReadStream(video) });
const done = await client.tasks.waitForDone(task.id, { sleepInterval: POLL_SECONDS });
const retrieved = await client.tasks.retrieve(task.id);
const videoObject = await client.indexes.videos.retrieve(index.id, task.videoId, { transcription: true });
const assets = await assetsPath(index.id);
const listed = await collect(await client.indexes.list({ pageLimit: 1 }));
await client.indexes.delete(index.id);
const afterDelete = await collect(await client.indexes.list({ pageLimit: 10 }));

console.log(
  JSON.stringify({
    index_id: index.id,
    tasks: {
      task_id: task.id,
      video_id: task.videoId,
      status: done.status,
      retrieved_index_id: retrieved.indexId,
      filename: retrieved.systemMetadata?.filename ?? null,
      video_filename: videoObject.systemMetadata?.filename ?? null,
      language: videoObject.language ?? null,
      segments: segments(videoObject.transcription),
    },
    assets,
    listed_index_ids: listed.map((i) => i.id),
    index_ids_after_delete: afterDelete.map((i) => i.id),
  }),
);
