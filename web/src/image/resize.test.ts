import { describe, expect, it } from "vitest";
import { installFakeCanvas } from "../test/fakes";
import { browserDeps, downscaleImage, fitWithin, JPEG_QUALITY, MAX_SIDE, UnreadableImageError } from "./resize";

describe("fitWithin", () => {
  it.each([
    [{ width: 4032, height: 3024 }, { width: 1024, height: 768 }],
    [{ width: 3024, height: 4032 }, { width: 768, height: 1024 }],
    [{ width: 6000, height: 1000 }, { width: 1024, height: 171 }],
    [{ width: 1024, height: 1024 }, { width: 1024, height: 1024 }],
    [{ width: 600, height: 450 }, { width: 600, height: 450 }],
    [{ width: 100000, height: 10 }, { width: 1024, height: 1 }],
  ])("fits %j into %j", (size, expected) => {
    expect(fitWithin(size)).toEqual(expected);
  });

  it("rejects an empty size", () => {
    expect(() => fitWithin({ width: 0, height: 10 })).toThrow(RangeError);
  });
});

describe("downscaleImage", () => {
  it("turns a 12-megapixel photo into a 1024 px JPEG", async () => {
    const canvas = installFakeCanvas({ width: 4032, height: 3024 });
    const file = new File(["raw"], "phone.heic.jpg", { type: "image/jpeg" });
    const out = await downscaleImage(file);
    expect(out).toMatchObject({ width: 1024, height: 768 });
    expect(out.blob.type).toBe("image/jpeg");
    expect(canvas.encoded).toEqual([{ width: 1024, height: 768, type: "image/jpeg", quality: JPEG_QUALITY }]);
    expect(canvas.drawn).toEqual([[0, 0, 1024, 768]]);
    expect(canvas.context.fillStyle).toBe("#ffffff"); // transparent PNG pixels become white
    expect(canvas.close).toHaveBeenCalled();
    expect(Math.max(out.width, out.height)).toBeLessThanOrEqual(MAX_SIDE);
  });

  it("applies the EXIF orientation when decoding", async () => {
    installFakeCanvas();
    const file = new File(["raw"], "a.jpg", { type: "image/jpeg" });
    await browserDeps.decode(file);
    expect(createImageBitmap).toHaveBeenCalledWith(file, { imageOrientation: "from-image" });
  });

  it("reports a file the browser cannot decode", async () => {
    installFakeCanvas();
    await expect(downscaleImage(new File(["%PDF"], "x.pdf", { type: "application/pdf" }))).rejects.toBeInstanceOf(
      UnreadableImageError,
    );
  });
});
