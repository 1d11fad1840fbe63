// The examples of the standards the dev SSF transmitter follows, as printed (the SSF 1.0 final
// text's figures; RFC 8935's and RFC 8936's, whose figures are unchanged from their last drafts),
// and a reader for them: an HTTP message's start line, header fields and body, with the line
// wrapping the RFCs allow inside figures ("all figures may contain spaces and extra line
// wrapping", RFC 8936 §1.1) taken out of JSON strings and compact JWTs.
//
//   const example = httpMessage(examples.ssfCreateStreamRequest);
//   example.method; example.target; example.headers.get('authorization'); example.json();
//
// SSF 1.0 is (c) 2025 The OpenID Foundation, reproduced as its notice allows; RFC 8935 and RFC
// 8936 are (c) 2020 IETF Trust and the persons identified as the document authors.

export interface HttpMessage {
  /** Request line: method and target; status line: status. */
  method?: string;
  target?: string;
  status?: number;
  headers: Headers;
  /** The body with the figure's wrapping removed (JSON strings and JWTs joined again). */
  body: string;
  json(): any;
}

export function httpMessage(text: string): HttpMessage {
  const [head = '', ...rest] = text.split(/\n\s*\n/);
  const [startLine = '', ...fieldLines] = head.split('\n');
  const headers = new Headers();
  for (const line of fieldLines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const body = unwrap(rest.join('\n\n'));
  const status = /^HTTP\/1\.1 (\d{3})/.exec(startLine);
  const request = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(startLine);
  return {
    ...(status ? { status: Number(status[1]) } : {}),
    ...(request ? { method: request[1], target: request[2] } : {}),
    headers,
    body,
    json: () => JSON.parse(body),
  };
}

/** Joins what a figure wrapped: line breaks inside a JSON string, and a compact JWT spread over lines. */
function unwrap(body: string): string {
  const trimmed = body.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return trimmed.replace(/\s+/g, '');
  let out = '';
  let inString = false;
  for (let i = 0; i < trimmed.length; i++) {
    const char = trimmed[i] as string;
    if (inString && char === '\n') {
      while (/\s/.test(trimmed[i + 1] ?? '')) i++;
      continue;
    }
    if (char === '"' && trimmed[i - 1] !== '\\') inString = !inString;
    out += char;
  }
  return out;
}

export const examples = {
  /** SSF 1.0 §7.2.1, "Transmitter Configuration Request (without path)" */
  ssfDiscoveryRequest: `GET /.well-known/ssf-configuration HTTP/1.1
Host: tr.example.com`,
  /** SSF 1.0 §7.2.1, "Transmitter Configuration Request (with path)" */
  ssfDiscoveryRequestWithPath: `GET /.well-known/ssf-configuration/issuer1 HTTP/1.1
Host: tr.example.com`,
  /** SSF 1.0 §7.2.3, "Transmitter Configuration Response" */
  ssfDiscoveryResponse: `HTTP/1.1 200 OK
Content-Type: application/json

{
  "spec_version": "1_0",
  "issuer":
    "https://tr.example.com",
  "jwks_uri":
    "https://tr.example.com/jwks.json",
  "delivery_methods_supported": [
    "urn:ietf:rfc:8935",
    "urn:ietf:rfc:8936"],
  "configuration_endpoint":
    "https://tr.example.com/ssf/mgmt/stream",
  "status_endpoint":
    "https://tr.example.com/ssf/mgmt/status",
  "add_subject_endpoint":
    "https://tr.example.com/ssf/mgmt/subject:add",
  "remove_subject_endpoint":
    "https://tr.example.com/ssf/mgmt/subject:remove",
  "verification_endpoint":
    "https://tr.example.com/ssf/mgmt/verification",
  "critical_subject_members": ["tenant", "user"],
  "authorization_schemes": [
      {
        "spec_urn": "urn:ietf:rfc:6749"
      },
      {
        "spec_urn": "urn:ietf:rfc:8705"
      }
    ],
  "default_subjects": "NONE"
}`,
  /** SSF 1.0 §8.1.1.1, "Create Stream Request" */
  ssfCreateStreamRequest: `POST /ssf/stream HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "delivery": {
    "method": "urn:ietf:rfc:8935",
    "endpoint_url": "https://receiver.example.com/events"
  },
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "description": "Stream for Receiver A using events type_2, type_3, type_4"
}`,
  /** SSF 1.0 §8.1.1.1, "Create Stream Response" */
  ssfCreateStreamResponse: `HTTP/1.1 201 Created
Content-Type: application/json

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "iss": "https://tr.example.com",
  "aud": [
    "https://receiver.example.com/web",
    "https://receiver.example.com/mobile"
  ],
  "delivery": {
    "method": "urn:ietf:rfc:8935",
    "endpoint_url": "https://receiver.example.com/events"
  },
  "events_supported": [
    "urn:example:secevent:events:type_1",
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "events_delivered": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "description": "Stream for Receiver A using events type_2, type_3, type_4"
}`,
  /** SSF 1.0 §8.1.1.2, "Read Stream Configuration Request" */
  ssfReadStreamRequest: `GET /ssf/stream?stream_id=f67e39a0a4d34d56b3aa1bc4cff0069f HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=`,
  /** SSF 1.0 §8.1.1.2, "Read Stream Configuration Response" */
  ssfReadStreamResponse: `HTTP/1.1 200 OK
Content-Type: application/json
Cache-Control: no-store

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "iss": "https://tr.example.com",
  "aud": [
    "https://receiver.example.com/web",
    "https://receiver.example.com/mobile"
  ],
  "delivery": {
    "method": "urn:ietf:rfc:8935",
    "endpoint_url": "https://receiver.example.com/events"
  },
  "events_supported": [
    "urn:example:secevent:events:type_1",
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "events_delivered": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "description": "Stream for Receiver A using events type_2, type_3, type_4"
}`,
  /** SSF 1.0 §8.1.1.2, the response when no stream is configured */
  ssfReadNoStreamsResponse: `HTTP/1.1 200 OK
Content-Type: application/json
Cache-Control: no-store

[]`,
  /** SSF 1.0 §8.1.1.3, "Update Stream Configuration Request" */
  ssfUpdateStreamRequest: `PATCH /ssf/stream HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "description": "Stream for Receiver B using events type_2, type_3, type_4"
}`,
  /** SSF 1.0 §8.1.1.3, "Update Stream Configuration Response" */
  ssfUpdateStreamResponse: `HTTP/1.1 200 OK
Content-Type: application/json
Cache-Control: no-store

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "iss": "https://tr.example.com",
  "aud": [
    "https://receiver.example.com/web",
    "https://receiver.example.com/mobile"
  ],
  "delivery": {
    "method": "urn:ietf:rfc:8935",
    "endpoint_url": "https://receiver.example.com/events"
  },
  "events_supported": [
    "urn:example:secevent:events:type_1",
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "events_delivered": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "description": "Stream for Receiver B using events type_2, type_3, type_4"
}`,
  /** SSF 1.0 §8.1.1.4, "Replace Stream Configuration Request" */
  ssfReplaceStreamRequest: `PUT /ssf/stream HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "delivery": {
    "method": "urn:ietf:rfc:8935",
    "endpoint_url": "https://receiver.example.com/events"
  },
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "description": "Stream for Receiver C"
}`,
  /** SSF 1.0 §8.1.1.4, "Replace Stream Configuration Response" */
  ssfReplaceStreamResponse: `HTTP/1.1 200 OK
Content-Type: application/json
Cache-Control: no-store

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "iss": "https://tr.example.com",
  "aud": [
    "https://receiver.example.com/web",
    "https://receiver.example.com/mobile"
  ],
  "delivery": {
    "method": "urn:ietf:rfc:8935",
    "endpoint_url": "https://receiver.example.com/events"
  },
  "events_supported": [
    "urn:example:secevent:events:type_1",
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "events_requested": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3",
    "urn:example:secevent:events:type_4"
  ],
  "events_delivered": [
    "urn:example:secevent:events:type_2",
    "urn:example:secevent:events:type_3"
  ],
  "description": "Stream for Receiver C"
}`,
  /** SSF 1.0 §8.1.1.5, "Delete Stream Request" */
  ssfDeleteStreamRequest: `DELETE /ssf/stream?stream_id=f67e39a0a4d34d56b3aa1bc4cff0069f HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=`,
  /** SSF 1.0 §8.1.1.5, "Delete Stream Response" */
  ssfDeleteStreamResponse: `HTTP/1.1 204 No Content
Cache-Control: no-store`,
  /** SSF 1.0 §8.1.2.1, "Check Stream Status Request" */
  ssfStatusRequest: `GET /ssf/status?stream_id=f67e39a0a4d34d56b3aa1bc4cff0069f HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=`,
  /** SSF 1.0 §8.1.2.1, "Check Stream Status Response" */
  ssfStatusResponse: `HTTP/1.1 200 OK
Content-Type: application/json
Cache-Control: no-store

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "status": "paused",
  "reason": "SYSTEM_DOWN_FOR_MAINTENANCE"
}`,
  /** SSF 1.0 §8.1.2.2, "Update Stream Status Request Without Optional Fields" */
  ssfUpdateStatusRequest: `POST /ssf/status HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "status": "paused"
}`,
  /** SSF 1.0 §8.1.2.2, "Update Stream Status Request With Optional Reason" */
  ssfUpdateStatusWithReasonRequest: `POST /ssf/status HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "status": "paused",
  "reason": "Disabled by administrator action."
}`,
  /** SSF 1.0 §8.1.2.2, "Update Stream Status Response" */
  ssfUpdateStatusResponse: `HTTP/1.1 200 OK
Content-Type: application/json
Cache-Control: no-store

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "status": "paused",
  "reason": "Disabled by administrator action."
}`,
  /** SSF 1.0 §8.1.3.2, "Add Subject Request" */
  ssfAddSubjectRequest: `POST /ssf/subjects:add HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "subject": {
    "format": "email",
    "email": "example.user@example.com"
  },
  "verified": true
}`,
  /** SSF 1.0 §8.1.3.2, "Add Subject Response" */
  ssfAddSubjectResponse: `HTTP/1.1 200 OK
Server: transmitter.example.com
Cache-Control: no-store`,
  /** SSF 1.0 §8.1.3.3, "Remove Subject Request" (its "phone" format is as printed) */
  ssfRemoveSubjectRequest: `POST /ssf/subjects:remove HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "subject": {
    "format": "phone",
    "phone_number": "+12065550123"
  }
}`,
  /** SSF 1.0 §8.1.3.3, "Remove Subject Response" */
  ssfRemoveSubjectResponse: `HTTP/1.1 204 No Content
Server: transmitter.example.com
Cache-Control: no-store`,
  /** SSF 1.0 §8.1.4.2, "Trigger Verification Request" */
  ssfVerificationRequest: `POST /ssf/verify HTTP/1.1
Host: transmitter.example.com
Authorization: Bearer eyJ0b2tlbiI6ImV4YW1wbGUifQo=
Content-Type: application/json

{
  "stream_id": "f67e39a0a4d34d56b3aa1bc4cff0069f",
  "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="
}`,
  /** SSF 1.0 §8.1.4.2, "Trigger Verification Response" */
  ssfVerificationResponse: `HTTP/1.1 204 No Content
Server: transmitter.example.com
Cache-Control: no-store`,
  /** SSF 1.0 §8.1.4.2, "Verification SET" (claims) */
  ssfVerificationSet: `{
  "jti": "123456",
  "iss": "https://transmitter.example.com",
  "aud": "receiver.example.com",
  "iat": 1493856000,
  "sub_id": {
    "format": "opaque",
    "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"
  },
  "events": {
    "https://schemas.openid.net/secevent/ssf/event-type/verification": {
      "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="
    }
  }
}`,
  /** SSF 1.0 §8.1.5, "Stream Updated SET" (claims) */
  ssfStreamUpdatedSet: `{
  "jti": "123456",
  "iss": "https://transmitter.example.com",
  "aud": "receiver.example.com",
  "iat": 1493856000,
  "sub_id": {
    "format": "opaque",
    "id" : "f67e39a0a4d34d56b3aa1bc4cff0069f"
  },
  "events": {
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated": {
      "status": "paused",
      "reason": "Internal error"
    }
  }
}`,
  /** SSF 1.0 §5, "SET Containing an SSF Event with a Complex Subject Member" (claims) */
  ssfComplexSubjectSet: `{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1520364019,
  "txn": "8675309",
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "complex",
    "user": {
      "format": "iss_sub",
      "iss": "https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/",
      "sub": "jane.smith@example.com"
    },
    "device": {
      "format": "iss_sub",
      "iss": "https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/",
      "sub": "e9297990-14d2-42ec-a4a9-4036db86509a"
    }
  },
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
      "initiating_entity": "policy",
      "reason_admin": {
        "en": "Policy Violation: C076E82F"
      },
      "reason_user": {
        "en": "Land speed violation.",
        "es": "Violación de velocidad en tierra."
      },
      "event_timestamp": 1600975810
    }
  }
}`,
  /** RFC 8936 §2.4.1, Figure 1: Example Initial Poll Request */
  rfc8936Figure1: `POST /Events HTTP/1.1
Host: notify.idp.example.com
Content-Type: application/json

{
 "returnImmediately": true
}`,
  /** RFC 8936 §2.4.1, Figure 2: Example Default Poll Request */
  rfc8936Figure2: `POST /Events HTTP/1.1
Host: notify.idp.example.com
Content-Type: application/json

{}`,
  /** RFC 8936 §2.4.2, Figure 3: Example Acknowledge-Only Request */
  rfc8936Figure3: `POST /Events HTTP/1.1
Host: notify.idp.example.com
Content-Type: application/json

{
  "ack": [
    "4d3559ec67504aaba65d40b0363faad8",
    "3d0c3cf797584bd193bd0fb1bd4e7d30"
  ],
  "maxEvents": 0,
  "returnImmediately": true
}`,
  /** RFC 8936 §2.4.3, Figure 4: Example Poll with Acknowledgement and No Errors */
  rfc8936Figure4: `POST /Events HTTP/1.1
Host: notify.idp.example.com
Content-Type: application/json

{
  "ack": [
    "4d3559ec67504aaba65d40b0363faad8",
    "3d0c3cf797584bd193bd0fb1bd4e7d30"
  ],
  "returnImmediately": false
}`,
  /** RFC 8936 §2.4.4, Figure 5: Example Poll Acknowledgement with Error */
  rfc8936Figure5: `POST /Events HTTP/1.1
Host: notify.idp.example.com
Content-Language: en-US
Content-Type: application/json

{
  "ack": ["3d0c3cf797584bd193bd0fb1bd4e7d30"],
  "setErrs": {
    "4d3559ec67504aaba65d40b0363faad8": {
      "err": "authentication_failed",
      "description": "The SET could not be authenticated"
    }
  },
  "returnImmediately": true
}`,
  /** RFC 8936 §2.5, Figure 6: Example Poll Response (its SETs are unsigned SCIM events, "alg": "none") */
  rfc8936Figure6: `HTTP/1.1 200 OK
Content-Type: application/json

{
"sets": {
  "4d3559ec67504aaba65d40b0363faad8":
   "eyJhbGciOiJub25lIn0.
   eyJqdGkiOiI0ZDM1NTllYzY3NTA0YWFiYTY1ZDQwYjAzNjNmYWFkOCIsImlhdCI6MTQ
   1ODQ5NjQwNCwiaXNzIjoiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tIiwiYXVkIjpbIm
   h0dHBzOi8vc2NpbS5leGFtcGxlLmNvbS9GZWVkcy85OGQ1MjQ2MWZhNWJiYzg3OTU5M
   2I3NzU0IiwiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tL0ZlZWRzLzVkNzYwNDUxNmIx
   ZDA4NjQxZDc2NzZlZTciXSwiZXZlbnRzIjp7InVybjppZXRmOnBhcmFtczpzY2ltOmV
   2ZW50OmNyZWF0ZSI6eyJyZWYiOiJodHRwczovL3NjaW0uZXhhbXBsZS5jb20vVXNlcn
   MvNDRmNjE0MmRmOTZiZDZhYjYxZTc1MjFkOSIsImF0dHJpYnV0ZXMiOlsiaWQiLCJuY
   W1lIiwidXNlck5hbWUiLCJwYXNzd29yZCIsImVtYWlscyJdfX19.",
  "3d0c3cf797584bd193bd0fb1bd4e7d30":
   "eyJhbGciOiJub25lIn0.
   eyJqdGkiOiIzZDBjM2NmNzk3NTg0YmQxOTNiZDBmYjFiZDRlN2QzMCIsImlhdCI6MTQ
   1ODQ5NjAyNSwiaXNzIjoiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tIiwiYXVkIjpbIm
   h0dHBzOi8vamh1Yi5leGFtcGxlLmNvbS9GZWVkcy85OGQ1MjQ2MWZhNWJiYzg3OTU5M
   2I3NzU0IiwiaHR0cHM6Ly9qaHViLmV4YW1wbGUuY29tL0ZlZWRzLzVkNzYwNDUxNmIx
   ZDA4NjQxZDc2NzZlZTciXSwic3ViIjoiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tL1V
   zZXJzLzQ0ZjYxNDJkZjk2YmQ2YWI2MWU3NTIxZDkiLCJldmVudHMiOnsidXJuOmlldG
   Y6cGFyYW1zOnNjaW06ZXZlbnQ6cGFzc3dvcmRSZXNldCI6eyJpZCI6IjQ0ZjYxNDJkZ
   jk2YmQ2YWI2MWU3NTIxZDkifSwiaHR0cHM6Ly9leGFtcGxlLmNvbS9zY2ltL2V2ZW50
   L3Bhc3N3b3JkUmVzZXRFeHQiOnsicmVzZXRBdHRlbXB0cyI6NX19fQ."
 }
}`,
  /** RFC 8936 §2.5, Figure 7: Example No SETs Poll Response */
  rfc8936Figure7: `HTTP/1.1 200 OK
Content-Type: application/json

{
 "sets": {}
}`,
  /** RFC 8935 §2.1, Figure 1: Example SET Transmission Request */
  rfc8935Figure1: `POST /Events HTTP/1.1
Host: notify.rp.example.com
Accept: application/json
Accept-Language: en-US, en;q=0.5
Content-Type: application/secevent+jwt

eyJ0eXAiOiJzZWNldmVudCtqd3QiLCJhbGciOiJIUzI1NiJ9Cg
.
eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbS8iLCJqdGkiOiI3NTZFNjk
3MTc1NjUyMDY5NjQ2NTZFNzQ2OTY2Njk2NTcyIiwiaWF0IjoxNTA4MTg0ODQ1LC
JhdWQiOiI2MzZDNjk2NTZFNzQ1RjY5NjQiLCJldmVudHMiOnsiaHR0cHM6Ly9zY
2hlbWFzLm9wZW5pZC5uZXQvc2VjZXZlbnQvcmlzYy9ldmVudC10eXBlL2FjY291
bnQtZGlzYWJsZWQiOnsic3ViamVjdCI6eyJzdWJqZWN0X3R5cGUiOiJpc3Mtc3V
iIiwiaXNzIjoiaHR0cHM6Ly9pZHAuZXhhbXBsZS5jb20vIiwic3ViIjoiNzM3NT
YyNkE2NTYzNzQifSwicmVhc29uIjoiaGlqYWNraW5nIn19fQ
.
Y4rXxMD406P2edv00cr9Wf3_XwNtLjB9n-jTqN1_lLc`,
  /** RFC 8935 §2.2, Figure 2: Example Successful Delivery Response */
  rfc8935Figure2: `HTTP/1.1 202 Accepted`,
  /** RFC 8935 §2.3, Figure 3: Example Error Response (invalid_key) */
  rfc8935Figure3: `HTTP/1.1 400 Bad Request
Content-Language: en-US
Content-Type: application/json

{
  "err": "invalid_key",
  "description": "Key ID 12345 has been revoked."
}`,
  /** RFC 8935 §2.3, Figure 4: Example Error Response (authentication_failed) */
  rfc8935Figure4: `HTTP/1.1 400 Bad Request
Content-Language: en-US
Content-Type: application/json

{
  "err": "authentication_failed",
  "description": "Access token has expired."
}`,
  /** RFC 8935 §2.3, Figure 5: Example Error Response (access_denied) */
  rfc8935Figure5: `HTTP/1.1 400 Bad Request
Content-Language: en-US
Content-Type: application/json

{
  "err": "invalid_issuer",
  "description": "Not authorized for issuer https://iss.example.com/."
}`,
};
