import { imageUrl, type RunInput as Input } from "../api";

/** The run's input, shown prominently: the caption as a quotation, or the uploaded image. */
export function RunInput({ input, size = "regular" }: { input: Input; size?: "regular" | "small" }) {
  if (input.kind === "caption") {
    return (
      <h1 className={`font-semibold tracking-tight text-balance break-words ${size === "small" ? "text-lg leading-snug" : "text-2xl leading-tight sm:text-3xl"}`}>
        <span className="text-faint">“</span>
        {input.text}
        <span className="text-faint">”</span>
      </h1>
    );
  }
  return (
    <div className="flex items-center gap-3">
      <img
        src={imageUrl(input.upload)}
        alt="The uploaded input image"
        width={input.width}
        height={input.height}
        className={`pixelated rounded-md border border-line bg-sunken object-contain ${size === "small" ? "size-14" : "size-20 sm:size-24"}`}
      />
      <div>
        <h1 className={`font-semibold tracking-tight ${size === "small" ? "text-lg" : "text-2xl"}`}>Uploaded image</h1>
        <p className="text-sm text-muted tabular-nums">
          {input.width} × {input.height} · {input.type.replace("image/", "").toUpperCase()}
        </p>
      </div>
    </div>
  );
}
