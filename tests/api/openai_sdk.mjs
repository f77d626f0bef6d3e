// The official openai npm package, unchanged, pointed at a running ragd. Run by
// tests/api/test_models.py with RAGD_BASE_URL, RAGD_TOKEN, RAGD_CHAT_MODEL, RAGD_EMBED_MODEL
// (and RAGD_ALIASES=1 when the server has MODEL_ALIASES gpt-4o-mini=local and
// text-embedding-3-small=local, RAGD_RAG_TITLE when a document with that title is uploaded,
// RAGD_TOOLS=1 for tool calls and structured output).
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.RAGD_BASE_URL, apiKey: process.env.RAGD_TOKEN,
                            maxRetries: 0 });
const chatModel = process.env.RAGD_CHAT_MODEL;
const embedModel = process.env.RAGD_EMBED_MODEL;

// Models.
const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
assert.ok(ids.includes(chatModel) && ids.includes(embedModel), `models: ${ids}`);
assert.equal((await client.models.retrieve(embedModel)).id, embedModel);

// A completion.
const c = await client.chat.completions.create({
  model: chatModel, messages: [{ role: "user", content: "Hello" }], max_tokens: 5, seed: 4,
});
assert.equal(c.object, "chat.completion");
assert.equal(c.choices[0].message.role, "assistant");
assert.ok(["stop", "length"].includes(c.choices[0].finish_reason));
assert.ok(c.usage.completion_tokens > 0 && c.usage.completion_tokens <= 5);

// The same request streamed gives the same text.
const stream = await client.chat.completions.create({
  model: chatModel, messages: [{ role: "user", content: "Hello" }], max_tokens: 5, seed: 4,
  stream: true, stream_options: { include_usage: true },
});
let text = "", finish = null, usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  const ch = chunk.choices[0];
  if (!ch) continue;
  text += ch.delta.content ?? "";
  if (ch.finish_reason) finish = ch.finish_reason;
}
assert.equal(text, c.choices[0].message.content);
assert.equal(finish, c.choices[0].finish_reason);
assert.equal(usage.completion_tokens, c.usage.completion_tokens);

// Embeddings: the SDK asks for base64 by default and decodes it.
const e = await client.embeddings.create({ model: embedModel, input: ["ice", "fire"] });
assert.equal(e.data.length, 2);
const v = e.data[0].embedding;
assert.equal(v.length, 64);
const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
const f = await client.embeddings.create({ model: embedModel, input: "ice",
                                           encoding_format: "float" });
assert.ok(Math.abs(f.data[0].embedding[0] - v[0]) < 1e-5);

// What clients send by default: penalties, n, logprobs; a greedy answer is unchanged by
// neutral values.
const greedy = await client.chat.completions.create({
  model: chatModel, messages: [{ role: "user", content: "Hello" }], max_tokens: 5,
  temperature: 0,
});
const neutral = await client.chat.completions.create({
  model: chatModel, messages: [{ role: "user", content: "Hello" }], max_tokens: 5,
  temperature: 0, presence_penalty: 0, frequency_penalty: 0, top_p: 1, n: 2, logprobs: true,
  top_logprobs: 2, user: "sdk-user", store: false, metadata: { from: "sdk" },
});
assert.equal(neutral.choices.length, 2);
assert.equal(neutral.choices[0].message.content, greedy.choices[0].message.content);
assert.ok(neutral.choices[0].logprobs.content.every((t) => t.top_logprobs.length === 2));

// Legacy completions.
const tc = await client.completions.create({ model: chatModel, prompt: "Hello", max_tokens: 5,
                                             temperature: 0 });
assert.equal(tc.object, "text_completion");
assert.equal(tc.choices[0].text, greedy.choices[0].message.content);

// The Responses API, plain and streamed.
const resp = await client.responses.create({ model: chatModel, input: "Hello",
                                             max_output_tokens: 5, temperature: 0 });
assert.equal(resp.object, "response");
assert.equal(resp.output_text, greedy.choices[0].message.content);
const rs = await client.responses.create({ model: chatModel, input: "Hello",
                                           max_output_tokens: 5, temperature: 0, stream: true });
let deltas = "", completed = null;
for await (const ev of rs) {
  if (ev.type === "response.output_text.delta") deltas += ev.delta;
  if (ev.type === "response.completed" || ev.type === "response.incomplete") completed = ev;
}
assert.equal(deltas, resp.output_text);
assert.ok(completed && completed.response.output[0].content[0].type === "output_text");

// Hard-coded OpenAI model names through MODEL_ALIASES.
if (process.env.RAGD_ALIASES) {
  const a = await client.chat.completions.create({
    model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 5,
    temperature: 0,
  });
  assert.equal(a.choices[0].message.content, greedy.choices[0].message.content);
  const ae = await client.embeddings.create({ model: "text-embedding-3-small", input: "ice",
                                              encoding_format: "float" });
  assert.equal(ae.data[0].embedding.length, 64);
}

// Knowledge-grounded answers: ragd-rag with its sources.
if (process.env.RAGD_RAG_TITLE) {
  const rag = await client.chat.completions.create({
    model: "ragd-rag", messages: [{ role: "user", content: "What do glaciers carve?" }],
  });
  assert.ok(rag.ragd.sources.some((x) => x.title === process.env.RAGD_RAG_TITLE),
            JSON.stringify(rag.ragd));
}

// Tool calling and structured output on the local engine (RAGD_TOOLS=1 when the server's
// GENERATION_MAX_TOKENS leaves room for a whole call): a forced call whose arguments follow
// the tool's schema, the tool's answer sent back, and a json_schema response that parses.
if (process.env.RAGD_TOOLS) {
  const tools = [{ type: "function", function: {
    name: "get_weather", description: "The weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string", enum: ["Oslo", "Rome"] } },
                  required: ["city"], additionalProperties: false } } }];
  const ask = { role: "user", content: "Weather in Oslo?" };
  for (const tool_choice of ["required", { type: "function", function: { name: "get_weather" } }]) {
    const tc = await client.chat.completions.create({
      model: chatModel, messages: [ask], tools, tool_choice, max_tokens: 96, temperature: 0.8,
    });
    const msg = tc.choices[0].message;
    assert.equal(tc.choices[0].finish_reason, "tool_calls", JSON.stringify(tc));
    assert.equal(msg.tool_calls[0].type, "function");
    assert.equal(msg.tool_calls[0].function.name, "get_weather");
    const args = JSON.parse(msg.tool_calls[0].function.arguments);
    assert.deepEqual(Object.keys(args), ["city"]);
    assert.ok(["Oslo", "Rome"].includes(args.city), JSON.stringify(args));
    const back = await client.chat.completions.create({
      model: chatModel, max_tokens: 8, tools, messages: [
        ask, msg, { role: "tool", tool_call_id: msg.tool_calls[0].id, content: "Sunny." }],
    });
    assert.ok(back.choices[0].message.content.length > 0);
  }
  const schema = { type: "object", additionalProperties: false, required: ["ok", "n"],
                   properties: { ok: { type: "boolean" }, n: { type: "integer" } } };
  const so = await client.chat.completions.create({
    model: chatModel, messages: [{ role: "user", content: "JSON please" }], max_tokens: 96,
    temperature: 1, response_format: { type: "json_schema",
                                       json_schema: { name: "r", schema, strict: true } },
  });
  const out = JSON.parse(so.choices[0].message.content);
  assert.equal(typeof out.ok, "boolean");
  assert.ok(Number.isInteger(out.n), JSON.stringify(out));
  const jo = await client.chat.completions.create({
    model: chatModel, messages: [{ role: "user", content: "JSON please" }], max_tokens: 96,
    temperature: 1, response_format: { type: "json_object" },
  });
  // Without a schema the random model's strings are unbounded: the text is an object when the
  // model finished it, and its start otherwise.
  const jt = jo.choices[0].message.content;
  if (jo.choices[0].finish_reason === "stop") assert.equal(typeof JSON.parse(jt), "object");
  else assert.match(jt, /^\s*\{/);
}

// Errors arrive as the SDK's typed errors.
await assert.rejects(
  client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
  (err) => err instanceof OpenAI.NotFoundError && err.status === 404 &&
           err.message.includes("does not exist") && err.code === "MODEL_NOT_FOUND");
await assert.rejects(
  client.chat.completions.create({ model: chatModel, messages: [{ role: "user", content: "x" }],
                                   audio: { voice: "alloy", format: "wav" } }),
  (err) => err instanceof OpenAI.BadRequestError && err.status === 400 &&
           err.code === "unsupported_parameter" && err.param === "audio");
const anonymous = new OpenAI({ baseURL: process.env.RAGD_BASE_URL, apiKey: "not-a-token",
                               maxRetries: 0 });
await assert.rejects(anonymous.models.list(),
                     (err) => err instanceof OpenAI.AuthenticationError && err.status === 401);

console.log("openai sdk: all checks passed");
