/**
 * The payload converter of the BackupEntry workflow (bundled into it through `payloadConverterPath`, and used by the
 * worker for activities too): the SDK's default converter, except that a payload it cannot decode becomes an
 * {@link UndecodablePayload} marker instead of an exception.
 *
 * Why: the TypeScript SDK decodes a signal's arguments before any handler or interceptor runs, and a decoding error
 * there fails the workflow task, again on every retry, so one `temporal workflow signal` with a non-JSON `json/plain`
 * payload or an unknown encoding would wedge the entry's workflow for good (sdk-typescript#1174: Go and Java drop such
 * signals; TypeScript does not yet). With the marker, the handlers see a value they can refuse with a clear note.
 * Encoding is untouched, so histories and payloads written before are read exactly as before.
 */
import {
  DefaultPayloadConverter,
  type ConverterHint,
  type Payload,
  type SerializationContext,
} from '@temporalio/common';
import type { UndecodablePayload } from '../domain/operator-input';

class TolerantPayloadConverter extends DefaultPayloadConverter {
  override fromPayload<T>(payload: Payload, context?: SerializationContext, hint?: ConverterHint<T>): T {
    try {
      return super.fromPayload<T>(payload, context, hint);
    } catch {
      const raw = payload.metadata?.encoding;
      const encoding = raw ? String.fromCharCode(...Array.from(raw.subarray(0, 40))) : '';
      const marker: UndecodablePayload = { undecodablePayload: { encoding, bytes: payload.data?.length ?? 0 } };
      return marker as T;
    }
  }
}

/** The converter the SDK loads from this module (the export must be named `payloadConverter`). */
export const payloadConverter = new TolerantPayloadConverter();
