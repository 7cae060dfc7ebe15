#!/usr/bin/env node
// An agent of your own for swarm-tui, in plain Node.js (no npm packages).
//
// It speaks the agent protocol, version 1 (docs/agent-protocol.md): JSON lines on stdin and
// stdout, a hello, heartbeats, answers to pings and tasks, error lines for input it cannot read,
// and an exit when stdin closes. It claims no fault commands: swarm-tui does every fault to it
// from outside (it freezes it for a CPU spike, fills its sandbox for a memory leak, changes its
// answers for error rates, slowness and byzantine faults).
//
//   swarm-tui agent check -- node examples/agents/node/agent.js
//   swarm-tui run --backend local --scenario mesh.failover --agent-command "node examples/agents/node/agent.js"
"use strict";

const readline = require("readline");

const PROGRAM = "example-node/1.0";
const PROTOCOLS = [1];
const HISTORY = 200;

const config = JSON.parse(process.env.SWARM_AGENT_CONFIG || "{}");
const offered = config.protocols || [1];
const protocol = Math.max(...PROTOCOLS.filter((v) => offered.includes(v)));
const params = config.params || {};
const capabilities = config.capabilities || [];
const history = new Map(); // symbol -> prices from ticks

function emit(msg) {
  process.stdout.write(JSON.stringify(msg) + "\n");
}

function error(text) {
  emit({ type: "error", error: String(text).slice(0, 4000) });
}

if (!Number.isFinite(protocol)) {
  error(`no common protocol version: offered ${JSON.stringify(offered)}, this agent speaks ${PROTOCOLS}`);
  process.exit(2);
}

// -- strategies ---------------------------------------------------------------------------------
class TaskError extends Error {}

function setting(data, name, fallback) {
  return Number(data[name] ?? params[name] ?? fallback);
}

function windowOf(data) {
  if (Array.isArray(data.prices)) return data.prices.map(Number);
  const symbol = data.symbol || (config.symbols || [])[0];
  return history.get(symbol) || [];
}

function meanStd(values) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return [mean, Math.sqrt(variance)];
}

function momentum(prices, data) {
  const lookback = setting(data, "lookback", 10);
  const threshold = setting(data, "threshold", 0.02);
  if (prices.length <= lookback) return { action: "hold", strength: 0, reason: "warming up" };
  const change = prices[prices.length - 1] / prices[prices.length - 1 - lookback] - 1;
  const action = change > threshold ? "buy" : change < -threshold ? "sell" : "hold";
  const strength = action === "hold" ? 0 : Math.min(1, Math.abs(change) / (2 * threshold));
  return { action, strength, change };
}

function meanReversion(prices, data) {
  const window = setting(data, "window", 20);
  const zEntry = setting(data, "z", 2);
  if (prices.length < window) return { action: "hold", strength: 0, reason: "warming up" };
  const [mean, std] = meanStd(prices.slice(-window));
  const z = std > 0 ? (prices[prices.length - 1] - mean) / std : 0;
  const action = z < -zEntry ? "buy" : z > zEntry ? "sell" : "hold";
  return { action, strength: action === "hold" ? 0 : Math.min(1, Math.abs(z) / (2 * zEntry)), z };
}

function trend(prices, data) {
  // Least-squares slope of log prices over the window; confidence from its t-statistic.
  const window = setting(data, "window", 20);
  if (prices.length < window) return { action: "hold", confidence: 0 };
  const ys = prices.slice(-window).map(Math.log);
  const n = ys.length;
  const xm = (n - 1) / 2;
  const ym = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  ys.forEach((y, i) => {
    sxx += (i - xm) ** 2;
    sxy += (i - xm) * (y - ym);
  });
  const slope = sxy / sxx;
  const resid = ys.reduce((a, y, i) => a + (y - (ym + slope * (i - xm))) ** 2, 0);
  const se = n > 2 ? Math.sqrt(resid / (n - 2) / sxx) : 0;
  const t = se > 0 ? slope / se : slope ? Infinity : 0;
  const confidence = Math.round(Math.min(1, Math.abs(t) / 4) * 1e4) / 1e4;
  const action = slope > 0.0005 ? "buy" : slope < -0.0005 ? "sell" : "hold";
  return { action, confidence };
}

const STRATEGIES = { momentum, mean_reversion: meanReversion };

const OPS = {
  signal(data) {
    const name = data.strategy || config.strategy || "momentum";
    const strategy = STRATEGIES[name];
    if (!strategy) throw new TaskError(`strategy ${name} is not one this agent computes`);
    return strategy(windowOf(data), data);
  },
  vote(data) {
    const { action, confidence } = trend(windowOf(data), data);
    return { vote: action, confidence };
  },
  work(data) {
    const prices = windowOf(data);
    const returns = prices.slice(1).map((p, i) => p / prices[i] - 1).sort((a, b) => a - b);
    if (!returns.length) return { var95: 0, n: 0 };
    const index = Math.max(0, Math.min(returns.length - 1, Math.floor(0.05 * returns.length)));
    return { var95: Math.max(0, -returns[index]), n: returns.length };
  },
  collect(data) {
    if (typeof data.symbol !== "string") throw new TaskError("collect needs a symbol");
    return { symbol: data.symbol, price: Number(data.price), t: data.t ?? null };
  },
  forward(data) {
    if (typeof data.to !== "string") throw new TaskError("forward needs a destination");
    return { forward_to: data.to, via: config.agent_id };
  },
  fill(data) {
    const sign = data.side === "buy" ? 1 : -1;
    const price = Number(data.price) * (1 + (sign * Number(data.slippage_bps ?? 2)) / 10000);
    return { price, fee: (Math.abs(Number(data.qty)) * price * Number(data.fee_bps ?? 1)) / 10000 };
  },
  echo(data) {
    return data;
  },
};

// -- tasks -----------------------------------------------------------------------------------
function answer(msg) {
  try {
    if (msg.cap && capabilities.length && !capabilities.includes(msg.cap)) {
      throw new TaskError(`capability ${msg.cap} not supported by ${config.kind}`);
    }
    const op = OPS[msg.op];
    if (!op) throw new TaskError(`unknown op ${JSON.stringify(msg.op)}`);
    return { type: "result", id: msg.id, ok: true, value: op(msg.data || {}) };
  } catch (exc) {
    const why = exc instanceof TaskError ? exc.message : `bad task: ${exc}`;
    return { type: "result", id: msg.id, ok: false, error: why.slice(0, 4000) };
  }
}

function busy(seconds) {
  // CPU work (a task with cpu: true): computation that takes `seconds` on an idle machine.
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let x = 1.0001;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 2000; i++) x = x * 1.0000001 + 1e-9;
  }
  return x;
}

function task(msg) {
  if (!Number.isInteger(msg.id) || typeof msg.op !== "string") {
    error("bad task: it needs an integer id and a string op");
    return;
  }
  const reply = answer(msg);
  const cost = Math.max(0, Number(msg.cost) || 0);
  if (msg.cpu && cost > 0) {
    busy(cost);
    emit(reply);
  } else if (cost > 0) {
    setTimeout(() => emit(reply), cost * 1000); // waiting, as on a broker call
  } else {
    emit(reply);
  }
}

function tick(msg) {
  if (!msg.prices || typeof msg.prices !== "object") {
    error("bad tick: prices must be an object");
    return;
  }
  for (const [symbol, price] of Object.entries(msg.prices)) {
    const prices = history.get(symbol) || [];
    prices.push(Number(price));
    if (prices.length > HISTORY) prices.shift();
    history.set(symbol, prices);
  }
}

function handle(line) {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (exc) {
    error(`input line is not JSON: ${exc.message}`);
    return;
  }
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
    error("input line is not a JSON object");
    return;
  }
  switch (msg.type) {
    case "task":
      task(msg);
      break;
    case "ping":
      emit({ type: "pong", id: msg.id });
      break;
    case "tick":
      tick(msg);
      break;
    case "fault":
      error(`fault ${JSON.stringify(msg.fault)} is not one this agent performs`);
      break;
    default:
      error(`unknown message type ${JSON.stringify(msg.type)}`);
  }
}

// -- the protocol --------------------------------------------------------------------------------
emit({
  type: "hello",
  agent: config.agent_id || "agent",
  kind: config.kind || "worker",
  version: config.version || "v1",
  protocol,
  capabilities,
  pid: process.pid,
  program: PROGRAM,
  ops: Object.keys(OPS).sort(),
  strategies: Object.keys(STRATEGIES),
  faults: [],
});

let seq = 0;
setInterval(() => emit({ type: "heartbeat", seq: ++seq }), Math.max(50, (config.heartbeat_s || 1) * 1000));

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", handle);
input.on("close", () => process.exit(0)); // stdin closed: the engine is gone or done with us
process.stdout.on("error", () => process.exit(0)); // nobody is listening any more
