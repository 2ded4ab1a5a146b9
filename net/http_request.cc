#include "net/http_request.h"

#include <algorithm>

namespace fanout {
namespace {

HttpRequestReader* self(http_parser* p) { return static_cast<HttpRequestReader*>(p->data); }

// RFC 9110 section 5.6.2's tchar: what a field name is made of (http_parser, built without
// HTTP_PARSER_STRICT, lets spaces through).
bool tchar(char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

void trim(std::string* s) {
  const auto ows = [](char ch) { return ch == ' ' || ch == '\t'; };
  while (!s->empty() && ows(s->back())) s->pop_back();
  size_t lead = 0;
  while (lead < s->size() && ows((*s)[lead])) ++lead;
  s->erase(0, lead);
}

}  // namespace

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  // absolute-form (RFC 9112 section 3.2.2), which a server must accept: the path after the
  // authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (t.size() >= scheme.size() &&
        std::equal(scheme.begin(), scheme.end(), t.begin(), [](char a, char b) { return a == (b | 0x20); })) {
      t.remove_prefix(scheme.size());
      size_t slash = t.find('/');
      t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
      break;
    }
  }
  return t.substr(0, t.find_first_of("?#"));
}

const std::string* HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

HttpRequestReader::HttpRequestReader(Limits limits) : limits_(limits) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_message_complete = on_message_complete;
}

HttpRequestReader::Status HttpRequestReader::read(const char* data, size_t n, size_t* used) {
  *used = 0;
  if (error_status_ != 0) return Status::kError;
  if (complete_) return Status::kRequest;
  // The parser sees no more than the head may still take: a request whose head has not ended by
  // then is over the limit, however its bytes arrive. (Blank lines before a request count too,
  // so an endless stream of them ends here as well.)
  const size_t room = limits_.max_head_bytes - std::min(head_bytes_, limits_.max_head_bytes);
  const size_t feed = std::min(n, room);
  const size_t got = feed == 0 ? 0 : http_parser_execute(&parser_, &settings_, data, feed);
  head_bytes_ += got;
  *used = got;
  if (error_status_ != 0) return Status::kError;  // a callback refused the request
  if (complete_) return Status::kRequest;          // paused at its end
  const enum http_errno e = HTTP_PARSER_ERRNO(&parser_);
  if (e != HPE_OK) {
    fail(400, std::string("malformed request: ") + http_errno_description(e));
    return Status::kError;
  }
  if (head_bytes_ >= limits_.max_head_bytes) {
    fail(431, "the request head is over " + std::to_string(limits_.max_head_bytes) + " bytes");
    return Status::kError;
  }
  return Status::kNeedMore;
}

void HttpRequestReader::next() {
  if (!complete_) return;
  complete_ = false;
  head_bytes_ = 0;
  request_ = HttpRequest{};
  http_parser_pause(&parser_, 0);
}

int HttpRequestReader::fail(int status, std::string why) {
  error_status_ = status;
  error_ = std::move(why);
  return -1;
}

int HttpRequestReader::on_message_begin(http_parser* p) {
  HttpRequestReader* r = self(p);
  r->request_ = HttpRequest{};
  r->in_message_ = true;
  r->last_was_value_ = true;  // the first field callback starts a header
  return 0;
}

int HttpRequestReader::on_url(http_parser* p, const char* at, size_t n) {
  self(p)->request_.target.append(at, n);  // bounded by the head's limit
  return 0;
}

int HttpRequestReader::on_header_field(http_parser* p, const char* at, size_t n) {
  HttpRequestReader* r = self(p);
  auto& headers = r->request_.headers;
  // A name may come in pieces (split across reads): a new header starts after a value.
  if (r->last_was_value_) {
    if (headers.size() >= r->limits_.max_headers) {
      return r->fail(431, "more than " + std::to_string(r->limits_.max_headers) + " header fields");
    }
    headers.emplace_back();
    r->last_was_value_ = false;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!tchar(at[i])) return r->fail(400, "malformed request: a header field name has a character a token may not");
    headers.back().first += static_cast<char>(at[i] >= 'A' && at[i] <= 'Z' ? at[i] | 0x20 : at[i]);
  }
  return 0;
}

int HttpRequestReader::on_header_value(http_parser* p, const char* at, size_t n) {
  HttpRequestReader* r = self(p);
  if (r->request_.headers.empty()) return 0;  // not reached: the parser gives a name first
  r->request_.headers.back().second.append(at, n);
  r->last_was_value_ = true;
  return 0;
}

int HttpRequestReader::on_headers_complete(http_parser* p) {
  HttpRequestReader* r = self(p);
  HttpRequest& q = r->request_;
  for (auto& h : q.headers) trim(&h.second);
  q.method = http_method_str(static_cast<enum http_method>(p->method));
  q.version_major = p->http_major;
  q.version_minor = p->http_minor;
  if (p->http_major != 1) return r->fail(505, "only HTTP/1.x is served");
  const bool body = (p->flags & F_CHUNKED) != 0 || p->uses_transfer_encoding ||
                    ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > 0);
  if (body) return r->fail(413, "a request body is not accepted");
  if (p->http_minor >= 1 && q.header("host") == nullptr) {
    return r->fail(400, "an HTTP/1.1 request must have a Host header");  // RFC 9112 section 3.2
  }
  return 0;
}

int HttpRequestReader::on_message_complete(http_parser* p) {
  HttpRequestReader* r = self(p);
  r->request_.keep_alive = http_should_keep_alive(p) != 0;
  r->request_.upgrade = p->upgrade != 0;
  r->complete_ = true;
  r->in_message_ = false;
  ++r->requests_;
  http_parser_pause(p, 1);  // one request at a time: read() returns here
  return 0;
}

}  // namespace fanout
