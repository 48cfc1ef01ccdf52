// earmark serve: the page. No framework, nothing fetched from elsewhere; every text from the server is set
// with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {models: [], model: null, run: null, split: null, clipRow: null, audioUrl: null, stretchEnd: null};
const MAX_RECORDING_S = 30;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fmt(x, digits = 3) { return typeof x === "number" ? x.toFixed(digits) : "–"; }

function withCi(block, key) {
  const ci = block[key + "_ci95"];
  return fmt(block[key]) + (ci ? ` [${fmt(ci[0])}, ${fmt(ci[1])}]` : "");
}

function colour(label) {
  const index = state.model ? state.model.labels.indexOf(label) : 0;
  return `hsl(${(index * 137.5) % 360}, 55%, 42%)`;
}

function table(target, header, rows) {
  let node = typeof target === "string" ? $(target) : target;
  if (node.tagName !== "TABLE") { const inner = el("table"); node.replaceChildren(inner); node = inner; }
  node.replaceChildren();
  const head = el("tr");
  header.forEach((h) => head.append(el("th", h)));
  node.append(head);
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((c) => tr.append(c instanceof Node ? wrap(c) : el("td", c, /^[-\d.\[\], –]+$/.test(String(c)) ? "num" : "")));
    node.append(tr);
  });
  return node;
}

function wrap(node) { const td = el("td"); td.append(node); return td; }

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.error || body.detail || `HTTP ${response.status}`);
  return body;
}

// ---- models ----
async function loadModels() {
  const answer = await getJson("/api/models");
  state.models = answer.models;
  const limits = state.limits = answer.limits;
  $("limits").textContent = `Limits: ${limits.max_upload_mb} MB per file, ${limits.max_duration_s} s of audio.`;
  const select = $("model");
  state.models.forEach((m) => select.append(new Option(`${m.name} (${m.kind})`, m.id)));
  select.addEventListener("change", () => chooseModel(Number(select.value)));
  chooseModel(state.models[0].id);
}

function chooseModel(id) {
  state.model = state.models.find((m) => m.id === id);
  const m = state.model;
  $("model-info").textContent = `${m.model}: ${m.labels.length} labels at ${m.sample_rate} Hz, ` +
    `${fmt(m.window_s, 2)}-s windows every ${fmt(m.hop_s, 2)} s`;
  $("tab-inside").hidden = !m.has_run;
  $("result").hidden = true;
  $("status").textContent = "";
  state.run = null;
  showTab(m.has_run && !$("inside").hidden ? "inside" : "try");
}

function showTab(name) {
  $("try").hidden = name !== "try";
  $("inside").hidden = name !== "inside";
  $("tab-try").classList.toggle("active", name === "try");
  $("tab-inside").classList.toggle("active", name === "inside");
  if (name === "inside" && !state.run) loadRun();
}

// ---- try it ----
async function classify(blob, name) {
  const status = $("status");
  status.className = "";
  status.textContent = `classifying ${name}…`;
  $("result").hidden = true;
  const started = performance.now();
  const limit = state.limits.max_upload_mb;
  if (blob.size > limit * 1048576) {  // the server would refuse it too: not worth sending
    status.className = "error";
    status.textContent = `${name}: larger than the ${limit} MB this server accepts (earmark serve --max-upload-mb N)`;
    window.earmarkLastAnswer = {error: status.textContent};
    return;
  }
  try {
    const url = `/api/models/${state.model.id}/predict?name=${encodeURIComponent(name)}`;
    const answer = await getJson(url, {method: "POST", body: blob});
    answer.client_s = (performance.now() - started) / 1000;
    showAnswer(answer, blob);
    status.textContent = `answered in ${fmt(answer.client_s, 2)} s (server ${fmt(answer.server_s, 2)} s)`;
    window.earmarkLastAnswer = answer;
  } catch (error) {
    status.className = "error";
    status.textContent = error.message;
    window.earmarkLastAnswer = {error: error.message};
  }
}

function showAnswer(answer, blob) {
  $("result-file").textContent = answer.file;
  $("result-label").textContent = answer.label;
  $("result-score").textContent = fmt(answer.score);
  $("result-duration").textContent = `${fmt(answer.duration_s, 2)} s of audio, ${answer.windows.length} windows`;
  table("topk", ["label", "score", ""], answer.top_k.map(([label, score]) => {
    const bar = el("span", null, "bar");
    bar.style.width = `${Math.round(score * 200)}px`;
    return [label, fmt(score, 4), bar];
  }));
  if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
  state.audioUrl = URL.createObjectURL(blob);
  $("player").src = state.audioUrl;
  drawTimeline(answer.windows, answer.duration_s);
  $("spectrogram").src = answer.spectrogram;
  $("spectrogram-scale").textContent = `0 to ${fmt(answer.duration_s, 2)} s left to right; 0 Hz at the bottom to ` +
    `${state.model.sample_rate / 2} Hz at the top, mel-spaced; 60 dB of range`;
  $("result").hidden = false;
}

function stretches(windows) {
  const merged = [];
  windows.forEach((w) => {
    const last = merged[merged.length - 1];
    if (last && last.label === w.label && w.start_s <= last.end_s) {
      last.end_s = Math.max(last.end_s, w.end_s);
      last.scores.push(w.score);
    } else {
      merged.push({label: w.label, start_s: w.start_s, end_s: w.end_s, scores: [w.score]});
    }
  });
  merged.forEach((s, i) => { if (i + 1 < merged.length) s.end_s = Math.min(s.end_s, merged[i + 1].start_s); });
  return merged;
}

function drawTimeline(windows, duration) {
  const line = $("timeline");
  line.replaceChildren();
  stretches(windows).forEach((s) => {
    const button = el("button", s.label);
    const mean = s.scores.reduce((a, b) => a + b, 0) / s.scores.length;
    button.type = "button";
    button.title = `${s.label} from ${fmt(s.start_s, 2)} s to ${fmt(s.end_s, 2)} s (mean score ${fmt(mean)})`;
    button.dataset.start = s.start_s;
    button.dataset.end = s.end_s;
    button.style.flexGrow = String(Math.max(s.end_s - s.start_s, duration / 500));
    button.style.flexBasis = "0";
    button.style.background = colour(s.label);
    button.addEventListener("click", () => playStretch(s.start_s, s.end_s));
    line.append(button);
  });
}

function playStretch(start, end) {
  const player = $("player");
  state.stretchEnd = end;
  player.currentTime = start;
  player.play().catch(() => {});
}

function setupTry() {
  $("player").addEventListener("timeupdate", () => {
    const player = $("player");
    if (state.stretchEnd !== null && player.currentTime >= state.stretchEnd) {
      player.pause();
      state.stretchEnd = null;
    }
  });
  $("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";  // so that choosing the same file again classifies it again
    if (file) classify(file, file.name);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) classify(file, file.name);
  });
  $("record").addEventListener("click", toggleRecording);
}

// ---- microphone: MediaRecorder's own container (webm/opus in Chromium), decoded by earmark on the server ----
let recorder = null;

async function toggleRecording() {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  let stream;
  try {
    // The raw signal: the browser's voice processing treats a steady sound as noise and fades it out.
    const raw = {echoCancellation: false, noiseSuppression: false, autoGainControl: false};
    stream = await navigator.mediaDevices.getUserMedia({audio: raw});
  } catch (error) {
    $("rec-status").textContent = `no microphone: ${error.message}`;
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
  recorder.addEventListener("stop", () => {
    stream.getTracks().forEach((track) => track.stop());
    $("record").classList.remove("recording");
    $("record").textContent = "Record from the microphone";
    $("rec-status").textContent = "";
    const type = recorder.mimeType || "audio/webm";
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    classify(new Blob(chunks, {type}), `microphone.${extension}`);
  });
  recorder.start();
  $("record").classList.add("recording");
  $("record").textContent = "Stop and classify";
  $("rec-status").textContent = `recording (at most ${MAX_RECORDING_S} s)…`;
  setTimeout(() => { if (recorder && recorder.state === "recording") recorder.stop(); }, MAX_RECORDING_S * 1000);
}

// ---- look inside a run ----
async function loadRun() {
  const id = state.model.id;
  try {
    state.run = await getJson(`/api/models/${id}/run`);
  } catch (error) {
    $("run-error").textContent = error.message;
    return;
  }
  const run = state.run;
  $("run-error").textContent = run.data_error || "";
  const splits = Object.keys(run.splits);
  table("metrics", ["split", "n", "accuracy [95% CI]", "balanced accuracy", "macro-F1 [95% CI]"],
    splits.map((s) => [s, run.splits[s].n, withCi(run.splits[s], "accuracy"), fmt(run.splits[s].balanced_accuracy),
      withCi(run.splits[s], "macro_f1")]));
  drawBaselines(run, splits);
  const select = $("split");
  select.replaceChildren(...splits.map((s) => new Option(s, s)));
  state.split = splits.includes("test") ? "test" : splits[0];
  select.value = state.split;
  select.onchange = () => { state.split = select.value; drawConfusion(); };
  drawConfusion();
  drawPerClass(run, splits);
  drawClipList("mistakes", run.mistakes, "no mistakes on val or test");
  drawCorrections(run.corrections);
  $("corrections-command").textContent =
    `earmark prepare SOURCE OUT [the same options] --corrections ${run.corrections_file}`;
  $("relabel-to").replaceChildren(...run.labels.map((l) => new Option(l, l)));
}

function drawBaselines(run, splits) {
  const rows = [];
  Object.entries(run.baselines).forEach(([name, block]) => {
    if (typeof block !== "object") return;
    splits.forEach((s) => { if (block[s]) rows.push([name, s, block[s].n, withCi(block[s], "accuracy"),
      withCi(block[s], "macro_f1")]); });
  });
  const node = $("baselines");
  node.replaceChildren();
  if (!rows.length) { node.append(el("p", "no baselines in metrics.json", "hint")); return; }
  node.append(table(el("table"), ["baseline", "split", "n", "accuracy [95% CI]", "macro-F1 [95% CI]"], rows));
  if (typeof run.baselines.protocol === "string") node.append(el("p", run.baselines.protocol, "hint"));
}

function drawConfusion() {
  const run = state.run;
  const block = run.splits[state.split];
  const labels = run.labels;
  const grid = el("table");
  const head = el("tr");
  head.append(el("th", "true \\ predicted"));
  labels.forEach((l) => head.append(el("th", l)));
  grid.append(head);
  block.confusion.forEach((row, i) => {
    const tr = el("tr");
    tr.append(el("th", labels[i]));
    row.forEach((count, j) => {
      const td = el("td", null, `${i === j ? "diag" : "off"}${count ? "" : " zero"}`);
      const button = el("button", count);
      button.type = "button";
      button.dataset.true = labels[i];
      button.dataset.predicted = labels[j];
      button.addEventListener("click", () => openCell(labels[i], labels[j], td));
      td.append(button);
      tr.append(td);
    });
    grid.append(tr);
  });
  $("confusion").replaceChildren(grid);
  $("cell").hidden = true;
}

function openCell(trueLabel, predicted, td) {
  document.querySelectorAll("#confusion td.selected").forEach((n) => n.classList.remove("selected"));
  td.classList.add("selected");
  const clips = state.run.clips.filter((c) => c.split === state.split && c.true === trueLabel &&
    c.predicted === predicted).sort((a, b) => b.score - a.score);
  $("cell-title").textContent = `${state.split}: true ${trueLabel}, predicted ${predicted} (${clips.length} clips)`;
  drawClipList("cell-clips", clips, "no clips in this cell");
  $("cell").hidden = false;
}

function drawClipList(id, clips, empty) {
  const list = $(id);
  list.replaceChildren();
  if (!clips.length) list.append(el("li", empty, "hint"));
  clips.forEach((clip) => {
    const item = el("li");
    const button = el("button", `${clip.clip}: true ${clip.true}, predicted ${clip.predicted} ${fmt(clip.score)}` +
      ` (${clip.split})`);
    button.type = "button";
    button.disabled = clip.row === null;
    button.dataset.row = clip.row;
    button.addEventListener("click", () => openClip(clip));
    item.append(button);
    list.append(item);
  });
}

function openClip(clip) {
  state.clipRow = clip.row;
  const base = `/api/models/${state.model.id}/clips/${clip.row}`;
  $("clip-title").textContent = `${clip.clip} (clip ${clip.row}, ${clip.split}): labelled ${clip.true}`;
  $("clip-audio").src = `${base}/audio.wav`;
  $("clip-spectrogram").src = `${base}/spectrogram.png`;
  table("clip-topk", ["model's top-k", "score"], clip.top_k.map(([l, s]) => [l, fmt(s, 4)]));
  const marked = (state.run.corrections || []).find((c) => c.path === clip.clip);
  $("mark-status").textContent = marked ? `marked: ${describeMark(marked)}` : "";
  $("clip").hidden = false;
}

function describeMark(c) { return c.action === "exclude" ? "exclude" : `wrong label → ${c.label}`; }

async function sendMark(action) {
  const body = JSON.stringify({action, label: $("relabel-to").value});
  try {
    const answer = await getJson(`/api/models/${state.model.id}/clips/${state.clipRow}/mark`,
      {method: "POST", headers: {"Content-Type": "application/json"}, body});
    state.run.corrections = answer.corrections;
    drawCorrections(answer.corrections);
    $("mark-status").textContent = action === "clear" ? "mark cleared" : `saved: ${action === "exclude" ?
      "exclude" : "wrong label → " + $("relabel-to").value}`;
  } catch (error) {
    $("mark-status").textContent = error.message;
  }
}

function drawCorrections(rows) {
  table("corrections", ["clip", "action", "new label", "was"],
    rows.map((r) => [r.path, r.action, r.label, r.previous_label]));
}

function drawPerClass(run, splits) {
  const rows = [];
  splits.forEach((s) => Object.entries(run.splits[s].per_class || {}).forEach(([label, v]) =>
    rows.push([s, label, fmt(v.precision), fmt(v.recall), fmt(v.f1), v.support])));
  table("per-class", ["split", "label", "precision", "recall", "F1", "support"], rows);
}

window.addEventListener("DOMContentLoaded", () => {
  $("tab-try").addEventListener("click", () => showTab("try"));
  $("tab-inside").addEventListener("click", () => showTab("inside"));
  ["relabel", "exclude", "clear"].forEach((a) => $(a).addEventListener("click", () => sendMark(a)));
  setupTry();
  loadModels().catch((error) => { $("status").className = "error"; $("status").textContent = error.message; });
});
