// Undo/redo from recorded commands: each primitive graph operation hands over its own do/undo pair;
// a transaction groups those of one user gesture. Run-time state (output images) is never touched.

export class UndoManager {
  constructor(graph, { limit = 200 } = {}) {
    this.graph = graph;
    this.limit = limit;
    this.done = [];
    this.undone = [];
    this.open = null;        // transaction being recorded
    this.depth = 0;
    this.replaying = false;
    graph.recorder = (doFn, undoFn, what) => this._record(doFn, undoFn, what);
  }

  _record(doFn, undoFn, what) {
    if (this.replaying) return;
    if (this.open) { this.open.steps.push({ doFn, undoFn, what }); return; }
    this._push({ label: what?.kind ?? "edit", steps: [{ doFn, undoFn, what }] });
  }

  _push(tx) {
    this.done.push(tx);
    if (this.done.length > this.limit) this.done.shift();
    this.undone = [];
    this.graph.emit("history", this.state());
  }

  begin(label) {
    if (this.depth++ === 0) this.open = { label, steps: [] };
  }
  end() {
    if (--this.depth > 0) return;
    const tx = this.open;
    this.open = null;
    if (tx && tx.steps.length) this._push(tx);
  }
  // Run fn as one undoable step, even when it performs many primitive operations.
  transact(label, fn) {
    this.begin(label);
    try { return fn(); } finally { this.end(); }
  }

  undo() {
    const tx = this.done.pop();
    if (!tx) return false;
    this._replay(() => { for (let i = tx.steps.length - 1; i >= 0; i--) tx.steps[i].undoFn(); });
    this.undone.push(tx);
    this.graph.emit("history", this.state());
    return true;
  }
  redo() {
    const tx = this.undone.pop();
    if (!tx) return false;
    this._replay(() => { for (const s of tx.steps) s.doFn(); });
    this.done.push(tx);
    this.graph.emit("history", this.state());
    return true;
  }
  _replay(fn) {
    this.replaying = true;
    try { fn(); } finally { this.replaying = false; }
    this.graph.emit("change", { kind: "replay" });
  }
  reset() { this.done = []; this.undone = []; this.graph.emit("history", this.state()); }
  state() { return { undo: this.done.length, redo: this.undone.length, label: this.done.at(-1)?.label ?? null }; }
}
