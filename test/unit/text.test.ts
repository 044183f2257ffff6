import { describe, expect, it } from "vitest";
import { cleanText, stripControls } from "../../agent/text.js";

describe("stripControls", () => {
  it("removes CSI, OSC and two-byte escapes and keeps tabs and newlines", () => {
    const raw = "a\x1b[31mred\x1b[0m\tb\n\x1b]0;title\x07c\x1b]8;;http://x\x1b\\d\x1bce";
    expect(stripControls(raw)).toBe("ared\tb\ncde");
  });

  it("removes C0 and C1 controls, DEL and the 8-bit CSI, and turns CR-LF into LF", () => {
    expect(stripControls("x\x00\x07\x08y\x7f\x85\x9b2Jz\r\nw\rv")).toBe("xyz\nwv");
  });
});

describe("cleanText", () => {
  it("leaves short clean text as it is", () => {
    expect(cleanText("hello\nworld", 100)).toBe("hello\nworld");
  });

  it("cuts to the byte bound keeping the head, and says how much was cut", () => {
    expect(cleanText("abcdefghij", 4)).toBe("abcd [… 6 bytes cut]");
  });

  it("keeps the tail for logs and never splits a UTF-8 character", () => {
    const out = cleanText("ééééé", 5, "tail");
    expect(out).toBe("[… 6 bytes cut]\néé");
    expect(cleanText("ééééé", 5, "head")).toBe("éé [… 6 bytes cut]");
  });
});
