#include "rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace artem::rpc {

namespace {

// gRPC is initialised once for the process and never shut down: sessions come and go, and a
// plugin may be unloaded with the process only.
void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { grpc_init(); });
}

grpc_completion_queue* NewQueue() {
  InitOnce();
  return grpc_completion_queue_create_for_pluck(nullptr);
}

void DestroyQueue(grpc_completion_queue* cq) {
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
}

std::string ToString(const grpc_slice& s) {
  return std::string(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)), GRPC_SLICE_LENGTH(s));
}

// The bytes of `buffer`, copied into `into` (kept as large as it has ever been).
std::size_t CopyOut(grpc_byte_buffer* buffer, std::vector<std::uint8_t>* into) {
  const std::size_t size = grpc_byte_buffer_length(buffer);
  if (into->size() < size) into->resize(size);
  grpc_byte_buffer_reader reader;
  grpc_byte_buffer_reader_init(&reader, buffer);
  std::size_t at = 0;
  grpc_slice slice;
  while (grpc_byte_buffer_reader_next(&reader, &slice)) {
    const std::size_t n = std::min<std::size_t>(GRPC_SLICE_LENGTH(slice), size - at);
    std::memcpy(into->data() + at, GRPC_SLICE_START_PTR(slice), n);
    at += n;
    grpc_slice_unref(slice);
  }
  grpc_byte_buffer_reader_destroy(&reader);
  return at;
}

void DeleteString(void* s) { delete static_cast<std::string*>(s); }

grpc_byte_buffer* OwnedBuffer(std::string bytes) {
  auto* held = new std::string(std::move(bytes));
  grpc_slice slice = grpc_slice_new_with_user_data(held->data(), held->size(), DeleteString, held);
  grpc_byte_buffer* buffer = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return buffer;
}

grpc_op Op(grpc_op_type type) {
  grpc_op op;
  std::memset(&op, 0, sizeof op);
  op.op = type;
  return op;
}

// Tags: one per kind of operation, so that the reader, a writer and Finish can each wait for
// their own on the call's queue at the same time.
char kStartTag, kWriteTag, kReadTag, kStatusTag, kCloseTag;

}  // namespace

Channel::Channel(const std::string& address, bool own_connection) {
  InitOnce();
  grpc_arg args[3];
  args[0].type = args[1].type = args[2].type = GRPC_ARG_INTEGER;
  args[0].key = const_cast<char*>(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH);
  args[0].value.integer = -1;
  args[1].key = const_cast<char*>(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH);
  args[1].value.integer = -1;
  args[2].key = const_cast<char*>(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL);
  args[2].value.integer = 1;
  const grpc_channel_args channel_args{own_connection ? 3u : 2u, args};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  channel_ = grpc_channel_create(address.c_str(), creds, &channel_args);
  grpc_channel_credentials_release(creds);
}

Channel::~Channel() { grpc_channel_destroy(channel_); }

struct Stream::Received {
  grpc_metadata_array initial, trailing;
  grpc_status_code status = GRPC_STATUS_OK;
  grpc_slice details = grpc_empty_slice();
  grpc_byte_buffer* message = nullptr;
  Received() {
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
  }
  ~Received() {
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_slice_unref(details);
    if (message) grpc_byte_buffer_destroy(message);
  }
};

Stream::Stream(const Channel& channel, const char* method) : cq_(NewQueue()), received_(new Received) {
  call_ = grpc_channel_create_call(channel.get(), nullptr, GRPC_PROPAGATE_DEFAULTS, cq_,
                                   grpc_slice_from_static_string(method), nullptr,
                                   gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  // The status is asked for from the start: it comes whenever the call ends, and Finish waits.
  grpc_op status = Op(GRPC_OP_RECV_STATUS_ON_CLIENT);
  status.data.recv_status_on_client.trailing_metadata = &received_->trailing;
  status.data.recv_status_on_client.status = &received_->status;
  status.data.recv_status_on_client.status_details = &received_->details;
  grpc_call_start_batch(call_, &status, 1, &kStatusTag, nullptr);
  grpc_op start = Op(GRPC_OP_SEND_INITIAL_METADATA);
  Run(&start, 1, &kStartTag);  // a failure shows in the status
}

Stream::~Stream() {
  grpc_call_unref(call_);
  delete received_;
  DestroyQueue(cq_);
}

bool Stream::Run(void* ops, std::size_t n, void* tag) {
  if (grpc_call_start_batch(call_, static_cast<grpc_op*>(ops), n, tag, nullptr) != GRPC_CALL_OK) return false;
  const grpc_event event = grpc_completion_queue_pluck(cq_, tag, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  return event.type == GRPC_OP_COMPLETE && event.success;
}

bool Stream::Write(const std::vector<Piece>& message) {
  std::vector<grpc_slice> slices;
  slices.reserve(message.size());
  for (const Piece& p : message)
    slices.push_back(p.borrowed ? grpc_slice_from_static_buffer(p.data, p.size)
                                : grpc_slice_from_copied_buffer(static_cast<const char*>(p.data), p.size));
  grpc_byte_buffer* buffer = grpc_raw_byte_buffer_create(slices.data(), slices.size());
  for (grpc_slice& s : slices) grpc_slice_unref(s);
  grpc_op op = Op(GRPC_OP_SEND_MESSAGE);
  op.data.send_message.send_message = buffer;
  const bool ok = Run(&op, 1, &kWriteTag);
  grpc_byte_buffer_destroy(buffer);
  return ok;
}

bool Stream::Write(std::string message) {
  grpc_byte_buffer* buffer = OwnedBuffer(std::move(message));
  grpc_op op = Op(GRPC_OP_SEND_MESSAGE);
  op.data.send_message.send_message = buffer;
  const bool ok = Run(&op, 1, &kWriteTag);
  grpc_byte_buffer_destroy(buffer);
  return ok;
}

void Stream::WritesDone() {
  grpc_op op = Op(GRPC_OP_SEND_CLOSE_FROM_CLIENT);
  Run(&op, 1, &kCloseTag);
}

bool Stream::Read(std::vector<std::uint8_t>* into, std::size_t* size) {
  grpc_op ops[2] = {Op(GRPC_OP_RECV_INITIAL_METADATA), Op(GRPC_OP_RECV_MESSAGE)};
  ops[0].data.recv_initial_metadata.recv_initial_metadata = &received_->initial;
  ops[1].data.recv_message.recv_message = &received_->message;
  const bool first = first_read_;
  first_read_ = false;
  if (!Run(first ? ops : ops + 1, first ? 2 : 1, &kReadTag) || !received_->message) return false;
  *size = CopyOut(received_->message, into);
  grpc_byte_buffer_destroy(received_->message);
  received_->message = nullptr;
  return true;
}

Status Stream::Finish() {
  grpc_completion_queue_pluck(cq_, &kStatusTag, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  return {received_->status, ToString(received_->details)};
}

void Stream::Cancel() { grpc_call_cancel(call_, nullptr); }

Status Unary(const Channel& channel, const char* method, const std::string& request, std::int32_t timeout_ms,
             std::string* reply) {
  grpc_completion_queue* cq = NewQueue();
  const gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(std::max(timeout_ms, 1), GPR_TIMESPAN));
  grpc_call* call = grpc_channel_create_call(channel.get(), nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
                                             grpc_slice_from_static_string(method), nullptr, deadline, nullptr);
  grpc_metadata_array initial, trailing;
  grpc_metadata_array_init(&initial);
  grpc_metadata_array_init(&trailing);
  grpc_byte_buffer* out = OwnedBuffer(request);
  grpc_byte_buffer* in = nullptr;
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6] = {Op(GRPC_OP_SEND_INITIAL_METADATA), Op(GRPC_OP_SEND_MESSAGE), Op(GRPC_OP_SEND_CLOSE_FROM_CLIENT),
                    Op(GRPC_OP_RECV_INITIAL_METADATA), Op(GRPC_OP_RECV_MESSAGE), Op(GRPC_OP_RECV_STATUS_ON_CLIENT)};
  ops[1].data.send_message.send_message = out;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
  ops[4].data.recv_message.recv_message = &in;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
  ops[5].data.recv_status_on_client.status = &code;
  ops[5].data.recv_status_on_client.status_details = &details;
  Status status{GRPC_STATUS_INTERNAL, "the call could not be started"};
  if (grpc_call_start_batch(call, ops, 6, &kStartTag, nullptr) == GRPC_CALL_OK) {
    grpc_completion_queue_pluck(cq, &kStartTag, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    status = {code, ToString(details)};
    if (code == GRPC_STATUS_OK && !in) status = {GRPC_STATUS_INTERNAL, "the server sent no reply"};
  }
  if (in) {
    std::vector<std::uint8_t> bytes;
    const std::size_t n = CopyOut(in, &bytes);
    reply->assign(reinterpret_cast<const char*>(bytes.data()), n);
    grpc_byte_buffer_destroy(in);
  }
  grpc_byte_buffer_destroy(out);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial);
  grpc_metadata_array_destroy(&trailing);
  grpc_call_unref(call);
  DestroyQueue(cq);
  return status;
}

}  // namespace artem::rpc
