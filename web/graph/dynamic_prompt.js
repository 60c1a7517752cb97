// Dynamic prompts (docs/comfy-api.md §3.4 step 3): the official frontend strips C-style comments from
// a STRING widget declaring dynamicPrompts, then replaces each {a|b|c} by one option chosen at random
// (nested groups allowed; the chosen option is processed again). A backslash keeps the next character
// literal while parsing; \{ \} \| lose their backslash at the end. core/workflow/widgets.py is the
// same algorithm for UI workflows converted on the server; tests/workflow/test_workflow_js_agrees.py
// runs both on the same cases.

const COMMENTS = /\/\*[\s\S]*?\*\/|\/\/.*/g;
const ESCAPED = /\\([{}|])/g;

export function processDynamicPrompt(text, random = Math.random) {
  if (typeof text !== "string") return text;
  const src = text.replace(COMMENTS, "");
  let pos = 0;
  // A trailing backslash reads past the end, giving "\undefined" as the frontend does.
  const escape = () => "\\" + src[pos++];

  const choiceBlock = () => {
    const options = [];
    let current = "";
    let depth = 0;
    while (pos < src.length) {
      const c = src[pos++];
      if (c === "\\") { current += escape(); continue; }
      if (c === "{") depth++;
      else if (c === "}") { if (!depth) break; depth--; }
      else if (c === "|" && !depth) { options.push(current); current = ""; continue; }
      current += c;
    }
    options.push(current);
    return processDynamicPrompt(options[Math.floor(random() * options.length)], random);
  };

  let out = "";
  while (pos < src.length) {
    const c = src[pos++];
    if (c === "\\") out += escape();
    else if (c === "{") out += choiceBlock();
    else out += c;
  }
  return out.replace(ESCAPED, "$1");
}
