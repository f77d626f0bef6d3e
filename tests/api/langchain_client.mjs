// LangChain JS (@langchain/openai, @langchain/core), unchanged, pointed at a running ragd. Run by
// tests/api/test_langchain.py with RAGD_BASE_URL, RAGD_TOKEN, RAGD_CHAT_MODEL (a local model),
// RAGD_RAG_TITLE and RAGD_RAG_DOC (the title and id of an uploaded document) and RAGD_RAG_FACT
// (a word that document holds); the server maps text-embedding-3-small to its embedder through MODEL_ALIASES.
import assert from "node:assert/strict";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { HumanMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { z } from "zod";

const baseURL = process.env.RAGD_BASE_URL;
const apiKey = process.env.RAGD_TOKEN;
const chatModel = process.env.RAGD_CHAT_MODEL;

// Every request body LangChain sends, to check what it sends by default.
const sent = [];
const recordingFetch = async (url, init) => {
  if (init?.body && typeof init.body === "string") sent.push(JSON.parse(init.body));
  return fetch(url, init);
};
const configuration = { baseURL, fetch: recordingFetch };
// JSON Schema counts a string's length in code points, not UTF-16 units.
const chars = (s) => [...s].length;
const chat = (fields) => new ChatOpenAI({ apiKey, configuration, maxRetries: 0, ...fields });

// Chat with LangChain's defaults, then with the penalties, n and top_p it passes on when set.
const plain = await chat({ model: chatModel, maxTokens: 8 }).invoke("Hello");
assert.equal(typeof plain.content, "string");
assert.ok(plain.content.length > 0, "empty answer");
assert.ok(plain.usage_metadata.output_tokens > 0 && plain.usage_metadata.output_tokens <= 8);
assert.equal(sent.at(-1).model, chatModel);
const tuned = chat({ model: chatModel, maxTokens: 8, temperature: 0, topP: 0.9,
                     presencePenalty: 0.4, frequencyPenalty: 0.3, n: 1, user: "lc-user" });
const t1 = await tuned.invoke("Hello");
const body = sent.at(-1);
assert.equal(body.presence_penalty, 0.4);
assert.equal(body.frequency_penalty, 0.3);
assert.equal(body.top_p, 0.9);
assert.equal(body.user, "lc-user");
assert.ok(t1.content.length > 0);

// Streaming: the chunks join into the same greedy answer.
let streamed = "", chunks = 0;
for await (const chunk of await tuned.stream("Hello")) {
  streamed += chunk.content;
  chunks += 1;
}
assert.ok(chunks > 1, `only ${chunks} chunks`);
assert.equal(streamed, t1.content);
assert.equal(sent.at(-1).stream, true);

// bindTools with a zod tool and a required call; the tool's answer goes back as a ToolMessage.
const weather = tool(async ({ city }) => `It is sunny in ${city}.`, {
  name: "get_weather", description: "The weather in a city.",
  schema: z.object({ city: z.enum(["Lisbon", "Porto", "Faro"]) }),
});
const llm = chat({ model: chatModel, maxTokens: 96, temperature: 0.8 });
for (const choice of ["required", "get_weather"]) {
  const withTools = llm.bindTools([weather], { tool_choice: choice });
  const q = new HumanMessage("What is the weather in Lisbon?");
  const ai = await withTools.invoke([q]);
  assert.equal(sent.at(-1).tools[0].function.name, "get_weather");
  assert.equal(ai.tool_calls.length >= 1, true, JSON.stringify(ai));
  const call = ai.tool_calls[0];
  assert.equal(call.name, "get_weather");
  // The arguments validate against the tool's schema (weather.invoke parses them with zod too).
  assert.ok(["Lisbon", "Porto", "Faro"].includes(call.args.city), JSON.stringify(call.args));
  assert.deepEqual(Object.keys(call.args), ["city"]);
  assert.ok(call.id, "tool call without an id");
  const result = await weather.invoke(call);  // a ToolMessage carrying call.id
  assert.ok(result instanceof ToolMessage && result.tool_call_id === call.id);
  const final = await llm.invoke([q, ai, result]);
  const last = sent.at(-1).messages;
  assert.equal(last[2].role, "tool");
  assert.equal(last[2].tool_call_id, call.id);
  assert.equal(last[1].tool_calls[0].id, call.id);
  assert.equal(typeof final.content, "string");
  assert.ok(final.content.length > 0 && final.tool_calls.length === 0);
}

// withStructuredOutput with a JSON schema, through response_format and through a forced tool call.
const person = {
  title: "person", description: "A person.", type: "object",
  properties: { name: { type: "string", minLength: 1, maxLength: 16 },
                age: { type: "integer" },
                tags: { type: "array", items: { type: "string", enum: ["a", "b"] } } },
  required: ["name", "age", "tags"], additionalProperties: false,
};
for (const method of ["jsonSchema", "functionCalling"]) {
  const so = chat({ model: chatModel, maxTokens: 256, temperature: 1 })
    .withStructuredOutput(person, { method, includeRaw: true });
  const { raw, parsed } = await so.invoke("Describe someone.");
  const req = sent.at(-1);
  if (method === "jsonSchema") assert.equal(req.response_format.type, "json_schema");
  else assert.equal(req.tools[0].function.name, "person");
  assert.ok(parsed, `${method}: nothing parsed from ${JSON.stringify(raw)}`);
  assert.equal(typeof parsed.name, "string");
  assert.ok(Number.isInteger(parsed.age), JSON.stringify(parsed));
  assert.ok(chars(parsed.name) >= 1 && chars(parsed.name) <= 16, parsed.name);
  assert.ok(Array.isArray(parsed.tags) && parsed.tags.every((t) => t === "a" || t === "b"));
  assert.deepEqual(Object.keys(parsed).sort(), ["age", "name", "tags"]);
}

// Embeddings under OpenAI's model name, mapped by MODEL_ALIASES.
const emb = new OpenAIEmbeddings({ apiKey, configuration, maxRetries: 0,
                                   model: "text-embedding-3-small" });
const vs = await emb.embedDocuments(["ice", "fire", "ice"]);
assert.equal(vs.length, 3);
assert.equal(vs[0].length, 64);
assert.deepEqual(vs[0].map((x) => x.toFixed(5)), vs[2].map((x) => x.toFixed(5)));
const norm = Math.sqrt(vs[1].reduce((s, x) => s + x * x, 0));
assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
const vq = await emb.embedQuery("ice");
assert.ok(Math.abs(vq[0] - vs[0][0]) < 1e-4);
assert.equal(sent.at(-1).model, "text-embedding-3-small");

// ragd-rag answers from the uploaded document; the sources arrive in the raw response.
const rag = chat({ model: "ragd-rag", __includeRawResponse: true });
const answer = await rag.invoke(`What does ${process.env.RAGD_RAG_FACT} mean here?`);
const sources = answer.additional_kwargs.__raw_response.ragd.sources;
assert.ok(sources.some((x) => x.title === process.env.RAGD_RAG_TITLE &&
                           x.document_id === process.env.RAGD_RAG_DOC), JSON.stringify(sources));
assert.ok(answer.content.length > 0);
assert.equal(answer.response_metadata.model_name, "ragd-rag");

console.log("langchain: all checks passed");
