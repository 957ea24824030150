/** Vitest set-up for every test file: jest-dom matchers, DOM clean-up, object URLs jsdom lacks. */
import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach, beforeEach, vi } from "vitest";

let urlCount = 0;

beforeEach(() => {
  if (typeof document === "undefined") return; // pure-logic files run in the faster node environment
  // jsdom has no object URLs; previews and thumbnails only need distinct strings.
  URL.createObjectURL = vi.fn(() => `blob:test/${++urlCount}`);
  URL.revokeObjectURL = vi.fn();
});

afterEach(() => {
  if (typeof document === "undefined") return;
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
});
