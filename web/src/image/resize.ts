/**
 * Downscaling in the browser before upload: the longer side to at most 1024 px, re-encoded
 * as JPEG. A 12-megapixel phone photo (4-6 MB) becomes ~150-300 KB, far below the API's
 * ~4.4 MB limit, uploads quickly on a phone network, and loses its EXIF block (GPS
 * position included) on the way. The model itself looks at 224 px, so nothing it uses is lost.
 */

export const MAX_SIDE = 1024;
export const JPEG_QUALITY = 0.9;
const OUTPUT_TYPE = "image/jpeg";

export interface Size {
  width: number;
  height: number;
}

/** The size that fits within maxSide on its longer side, aspect kept; never upscales. */
export function fitWithin(size: Size, maxSide: number = MAX_SIDE): Size {
  const { width, height } = size;
  if (!(width > 0 && height > 0)) throw new RangeError(`invalid image size ${width}x${height}`);
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
}

/** The image could not be decoded by the browser (not an image, or a format it lacks). */
export class UnreadableImageError extends Error {
  constructor() {
    super("the browser could not decode this file as an image");
    this.name = "UnreadableImageError";
  }
}

export interface PreparedImage {
  blob: Blob;
  width: number;
  height: number;
}

/** The browser facilities used, injectable because jsdom has neither of them. */
export interface CanvasDeps {
  decode: (file: Blob) => Promise<ImageBitmap>;
  createCanvas: (size: Size) => HTMLCanvasElement;
}

export const browserDeps: CanvasDeps = {
  // from-image: a portrait phone photo (EXIF orientation 6) comes out upright.
  decode: (file) => createImageBitmap(file, { imageOrientation: "from-image" }),
  createCanvas: ({ width, height }) => Object.assign(document.createElement("canvas"), { width, height }),
};

function toBlob(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error("the browser could not encode the JPEG"))),
      OUTPUT_TYPE,
      JPEG_QUALITY,
    );
  });
}

/** Decodes, orients, scales and re-encodes one image file as a JPEG. */
export async function downscaleImage(file: Blob, deps: CanvasDeps = browserDeps): Promise<PreparedImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await deps.decode(file);
  } catch {
    throw new UnreadableImageError();
  }
  try {
    const size = fitWithin({ width: bitmap.width, height: bitmap.height });
    const canvas = deps.createCanvas(size);
    const context = canvas.getContext("2d");
    if (!context) throw new Error("the browser gave no 2D canvas");
    // White under transparent PNG pixels: JPEG has no alpha and would turn them black.
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, size.width, size.height);
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, size.width, size.height);
    return { blob: await toBlob(canvas), ...size };
  } finally {
    bitmap.close();
  }
}
