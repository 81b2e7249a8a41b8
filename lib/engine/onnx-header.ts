/**
 * Reads an ONNX file's graph signature (input and output names, element types, shapes) and the
 * external data files its weights live in, straight from the protobuf, without onnxruntime.
 * preset-check uses it so that checking a multi-gigabyte float16 GPU preset neither loads the
 * weights into memory nor needs kernels the CPU provider lacks. Large fields (weights, node
 * attributes) are skipped by seeking past them, so only the graph's small fields are read.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { ModelSignature, TensorMetadata } from "./contract";

/** onnx.TensorProto.DataType → onnxruntime-node's type names. */
const ELEMENT_TYPES: Readonly<Record<number, string>> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  16: "bfloat16",
};

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEMENT = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;
const TENSOR_NAME = 8;
const TENSOR_EXTERNAL_DATA = 13;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

export class OnnxHeaderError extends Error {}

/** Sequential reads from a file through a small window, with skips that cost nothing. */
class FileCursor {
  private readonly window = Buffer.alloc(1 << 16);
  private windowStart = 0;
  private windowLength = 0;
  position = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private byte(): number {
    if (this.position >= this.size) throw new OnnxHeaderError("the file ends in the middle of a field (truncated or not an ONNX model)");
    if (this.position < this.windowStart || this.position >= this.windowStart + this.windowLength) {
      this.windowStart = this.position;
      this.windowLength = readSync(this.fd, this.window, 0, this.window.length, this.position);
    }
    return this.window[this.position++ - this.windowStart];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new OnnxHeaderError("a varint runs past 10 bytes (not an ONNX model)");
  }

  string(length: number): string {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) bytes[i] = this.byte();
    return bytes.toString("utf8");
  }

  skip(length: number): void {
    if (this.position + length > this.size) throw new OnnxHeaderError("a field runs past the end of the file (truncated or not an ONNX model)");
    this.position += length;
  }
}

/** Calls `onField(field, wireType, end)` for each field of the message that ends at `end`; unhandled fields are skipped. */
function readMessage(cursor: FileCursor, end: number, onField: (field: number, wireType: number, fieldEnd: number) => boolean): void {
  while (cursor.position < end) {
    const tag = cursor.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    let fieldEnd: number;
    if (wireType === LENGTH_DELIMITED) {
      const length = cursor.varint();
      fieldEnd = cursor.position + length;
      if (fieldEnd > end) throw new OnnxHeaderError(`field ${field} runs past its message (not an ONNX model)`);
    } else if (wireType === VARINT || wireType === FIXED64 || wireType === FIXED32) {
      fieldEnd = -1;
    } else {
      throw new OnnxHeaderError(`unsupported protobuf wire type ${wireType} (not an ONNX model)`);
    }
    if (onField(field, wireType, fieldEnd)) {
      if (fieldEnd >= 0 && cursor.position !== fieldEnd) cursor.position = fieldEnd;
      continue;
    }
    if (wireType === LENGTH_DELIMITED) cursor.skip(fieldEnd - cursor.position);
    else if (wireType === VARINT) cursor.varint();
    else cursor.skip(wireType === FIXED64 ? 8 : 4);
  }
  if (cursor.position !== end) throw new OnnxHeaderError("a message overruns its length (not an ONNX model)");
}

function readDim(cursor: FileCursor, end: number): number | string {
  // A dim with neither a value nor a name has an unknown size, like onnxruntime's -1.
  let dim: number | string = -1;
  readMessage(cursor, end, (field, wire, fieldEnd) => {
    if (field === DIM_VALUE && wire === VARINT) dim = cursor.varint();
    else if (field === DIM_PARAM && wire === LENGTH_DELIMITED) dim = cursor.string(fieldEnd - cursor.position);
    else return false;
    return true;
  });
  return dim;
}

function readValueInfo(cursor: FileCursor, end: number): TensorMetadata {
  let name = "";
  let type = "non-tensor";
  const shape: (number | string)[] = [];
  readMessage(cursor, end, (field, wire, fieldEnd) => {
    if (field === VALUE_INFO_NAME && wire === LENGTH_DELIMITED) {
      name = cursor.string(fieldEnd - cursor.position);
      return true;
    }
    if (field !== VALUE_INFO_TYPE || wire !== LENGTH_DELIMITED) return false;
    readMessage(cursor, fieldEnd, (typeField, typeWire, typeEnd) => {
      if (typeField !== TYPE_TENSOR || typeWire !== LENGTH_DELIMITED) return false;
      readMessage(cursor, typeEnd, (tensorField, tensorWire, tensorEnd) => {
        if (tensorField === TENSOR_TYPE_ELEMENT && tensorWire === VARINT) {
          const code = cursor.varint();
          type = ELEMENT_TYPES[code] ?? `onnx-type-${code}`;
          return true;
        }
        if (tensorField !== TENSOR_TYPE_SHAPE || tensorWire !== LENGTH_DELIMITED) return false;
        readMessage(cursor, tensorEnd, (shapeField, shapeWire, dimEnd) => {
          if (shapeField !== SHAPE_DIM || shapeWire !== LENGTH_DELIMITED) return false;
          shape.push(readDim(cursor, dimEnd));
          return true;
        });
        return true;
      });
      return true;
    });
    return true;
  });
  return { name, type, shape };
}

/** An initializer's name and, when its bytes live outside the model file, that file's location. */
function readInitializer(cursor: FileCursor, end: number): { name: string; location?: string } {
  let name = "";
  let location: string | undefined;
  readMessage(cursor, end, (field, wire, fieldEnd) => {
    if (field === TENSOR_NAME && wire === LENGTH_DELIMITED) {
      name = cursor.string(fieldEnd - cursor.position);
      return true;
    }
    if (field !== TENSOR_EXTERNAL_DATA || wire !== LENGTH_DELIMITED) return false;
    let key = "";
    let value = "";
    readMessage(cursor, fieldEnd, (entryField, entryWire, entryEnd) => {
      if (entryWire !== LENGTH_DELIMITED || (entryField !== ENTRY_KEY && entryField !== ENTRY_VALUE)) return false;
      const text = cursor.string(entryEnd - cursor.position);
      if (entryField === ENTRY_KEY) key = text;
      else value = text;
      return true;
    });
    if (key === "location") location = value;
    return true;
  });
  return { name, location };
}

export interface OnnxHeader extends ModelSignature {
  /** Files (relative to the model's folder) that hold external weights, each once. */
  readonly externalData: readonly string[];
}

/** The graph signature of the ONNX model in `file`; initializers listed as inputs (old exports) are left out, as onnxruntime does. */
export function readOnnxHeader(file: string): OnnxHeader {
  const fd = openSync(file, "r");
  try {
    const cursor = new FileCursor(fd, fstatSync(fd).size);
    const inputs: TensorMetadata[] = [];
    const outputs: TensorMetadata[] = [];
    const initializers = new Set<string>();
    const externalData = new Set<string>();
    let sawGraph = false;
    readMessage(cursor, cursor.size, (field, wire, graphEnd) => {
      if (field !== MODEL_GRAPH || wire !== LENGTH_DELIMITED) return false;
      sawGraph = true;
      readMessage(cursor, graphEnd, (graphField, graphWire, fieldEnd) => {
        if (graphWire !== LENGTH_DELIMITED) return false;
        if (graphField === GRAPH_INPUT) inputs.push(readValueInfo(cursor, fieldEnd));
        else if (graphField === GRAPH_OUTPUT) outputs.push(readValueInfo(cursor, fieldEnd));
        else if (graphField === GRAPH_INITIALIZER) {
          const { name, location } = readInitializer(cursor, fieldEnd);
          initializers.add(name);
          if (location !== undefined) externalData.add(location);
        } else return false;
        return true;
      });
      return true;
    });
    if (!sawGraph) throw new OnnxHeaderError("the file has no graph (not an ONNX model)");
    return { inputs: inputs.filter((input) => !initializers.has(input.name)), outputs, externalData: [...externalData] };
  } finally {
    closeSync(fd);
  }
}
