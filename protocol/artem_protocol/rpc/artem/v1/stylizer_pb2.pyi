from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_FORMAT_UNSPECIFIED: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGBA8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_BGRA8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGB8: _ClassVar[PixelFormat]

class ColorSpace(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_SPACE_UNSPECIFIED: _ClassVar[ColorSpace]
    COLOR_SPACE_SRGB: _ClassVar[ColorSpace]
    COLOR_SPACE_LINEAR: _ClassVar[ColorSpace]
PIXEL_FORMAT_UNSPECIFIED: PixelFormat
PIXEL_FORMAT_RGBA8: PixelFormat
PIXEL_FORMAT_BGRA8: PixelFormat
PIXEL_FORMAT_RGB8: PixelFormat
COLOR_SPACE_UNSPECIFIED: ColorSpace
COLOR_SPACE_SRGB: ColorSpace
COLOR_SPACE_LINEAR: ColorSpace

class View(_message.Message):
    __slots__ = ("width", "height", "format", "color_space", "row_stride", "data", "shm", "jpeg")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    COLOR_SPACE_FIELD_NUMBER: _ClassVar[int]
    ROW_STRIDE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHM_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    format: PixelFormat
    color_space: ColorSpace
    row_stride: int
    data: bytes
    shm: ShmPixels
    jpeg: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[PixelFormat, str]] = ..., color_space: _Optional[_Union[ColorSpace, str]] = ..., row_stride: _Optional[int] = ..., data: _Optional[bytes] = ..., shm: _Optional[_Union[ShmPixels, _Mapping]] = ..., jpeg: _Optional[bytes] = ...) -> None: ...

class ShmPixels(_message.Message):
    __slots__ = ("slot", "offset")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    slot: int
    offset: int
    def __init__(self, slot: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class SharedMemoryRegion(_message.Message):
    __slots__ = ("name", "size", "slot_count", "slot_size", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SLOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SLOT_SIZE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    slot_count: int
    slot_size: int
    key: bytes
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., slot_count: _Optional[int] = ..., slot_size: _Optional[int] = ..., key: _Optional[bytes] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("id", "capture_time_us", "views")
    ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    id: int
    capture_time_us: int
    views: _containers.RepeatedCompositeFieldContainer[View]
    def __init__(self, id: _Optional[int] = ..., capture_time_us: _Optional[int] = ..., views: _Optional[_Iterable[_Union[View, _Mapping]]] = ...) -> None: ...

class SessionConfig(_message.Message):
    __slots__ = ("style", "strength", "shared_memory", "jpeg_quality", "backend", "precision", "render_scale", "mix", "preserve_color")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    SHARED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RENDER_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_COLOR_FIELD_NUMBER: _ClassVar[int]
    style: str
    strength: float
    shared_memory: SharedMemoryRegion
    jpeg_quality: int
    backend: str
    precision: str
    render_scale: float
    mix: _containers.RepeatedCompositeFieldContainer[StyleWeight]
    preserve_color: bool
    def __init__(self, style: _Optional[str] = ..., strength: _Optional[float] = ..., shared_memory: _Optional[_Union[SharedMemoryRegion, _Mapping]] = ..., jpeg_quality: _Optional[int] = ..., backend: _Optional[str] = ..., precision: _Optional[str] = ..., render_scale: _Optional[float] = ..., mix: _Optional[_Iterable[_Union[StyleWeight, _Mapping]]] = ..., preserve_color: _Optional[bool] = ...) -> None: ...

class StyleWeight(_message.Message):
    __slots__ = ("style", "weight")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    style: str
    weight: float
    def __init__(self, style: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class StylizeRequest(_message.Message):
    __slots__ = ("config", "frame", "pad")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PAD_FIELD_NUMBER: _ClassVar[int]
    config: SessionConfig
    frame: Frame
    pad: bytes
    def __init__(self, config: _Optional[_Union[SessionConfig, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ..., pad: _Optional[bytes] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("queue_ms", "convert_ms", "model_ms", "total_ms", "transfer_ms")
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    CONVERT_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_MS_FIELD_NUMBER: _ClassVar[int]
    queue_ms: float
    convert_ms: float
    model_ms: float
    total_ms: float
    transfer_ms: float
    def __init__(self, queue_ms: _Optional[float] = ..., convert_ms: _Optional[float] = ..., model_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., transfer_ms: _Optional[float] = ...) -> None: ...

class StylizedFrame(_message.Message):
    __slots__ = ("id", "capture_time_us", "views", "timings", "dropped_frames", "style")
    ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    id: int
    capture_time_us: int
    views: _containers.RepeatedCompositeFieldContainer[View]
    timings: Timings
    dropped_frames: int
    style: str
    def __init__(self, id: _Optional[int] = ..., capture_time_us: _Optional[int] = ..., views: _Optional[_Iterable[_Union[View, _Mapping]]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., dropped_frames: _Optional[int] = ..., style: _Optional[str] = ...) -> None: ...

class SessionState(_message.Message):
    __slots__ = ("style", "strength", "kind", "shared_memory", "jpeg_quality", "backend", "precision", "render_scale", "mix", "preserve_color")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHARED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RENDER_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIX_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_COLOR_FIELD_NUMBER: _ClassVar[int]
    style: str
    strength: float
    kind: str
    shared_memory: str
    jpeg_quality: int
    backend: str
    precision: str
    render_scale: float
    mix: _containers.RepeatedCompositeFieldContainer[StyleWeight]
    preserve_color: bool
    def __init__(self, style: _Optional[str] = ..., strength: _Optional[float] = ..., kind: _Optional[str] = ..., shared_memory: _Optional[str] = ..., jpeg_quality: _Optional[int] = ..., backend: _Optional[str] = ..., precision: _Optional[str] = ..., render_scale: _Optional[float] = ..., mix: _Optional[_Iterable[_Union[StyleWeight, _Mapping]]] = ..., preserve_color: _Optional[bool] = ...) -> None: ...

class StylizeReply(_message.Message):
    __slots__ = ("frame", "session", "error", "pad")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PAD_FIELD_NUMBER: _ClassVar[int]
    frame: StylizedFrame
    session: SessionState
    error: Status
    pad: bytes
    def __init__(self, frame: _Optional[_Union[StylizedFrame, _Mapping]] = ..., session: _Optional[_Union[SessionState, _Mapping]] = ..., error: _Optional[_Union[Status, _Mapping]] = ..., pad: _Optional[bytes] = ...) -> None: ...

class ListStylesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class StyleInfo(_message.Message):
    __slots__ = ("id", "kind", "display_name", "thumbnail_png", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_PNG_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    display_name: str
    thumbnail_png: bytes
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., display_name: _Optional[str] = ..., thumbnail_png: _Optional[bytes] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AddStyleRequest(_message.Message):
    __slots__ = ("name", "model", "image", "size", "display_name", "replace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    image: bytes
    size: int
    display_name: str
    replace: bool
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., image: _Optional[bytes] = ..., size: _Optional[int] = ..., display_name: _Optional[str] = ..., replace: _Optional[bool] = ...) -> None: ...

class AddStyleReply(_message.Message):
    __slots__ = ("id", "style")
    ID_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    style: StyleInfo
    def __init__(self, id: _Optional[str] = ..., style: _Optional[_Union[StyleInfo, _Mapping]] = ...) -> None: ...

class ListStylesReply(_message.Message):
    __slots__ = ("styles", "next_page_token")
    STYLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    styles: _containers.RepeatedCompositeFieldContainer[StyleInfo]
    next_page_token: str
    def __init__(self, styles: _Optional[_Iterable[_Union[StyleInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "device", "backends", "pixel_formats", "max_frame_bytes", "max_views", "max_dimension", "adain_models", "max_streams", "stream_idle_timeout_s", "max_style_image_bytes", "max_added_styles", "max_mix_styles", "max_name_chars", "max_display_name_chars", "max_list_styles_page", "max_streams_per_connection", "max_style_pixels", "max_style_decoded_pixels", "frame_deadline_s")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    PIXEL_FORMATS_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_VIEWS_FIELD_NUMBER: _ClassVar[int]
    MAX_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    ADAIN_MODELS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDLE_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLE_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ADDED_STYLES_FIELD_NUMBER: _ClassVar[int]
    MAX_MIX_STYLES_FIELD_NUMBER: _ClassVar[int]
    MAX_NAME_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_DISPLAY_NAME_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_LIST_STYLES_PAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_PER_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLE_DECODED_PIXELS_FIELD_NUMBER: _ClassVar[int]
    FRAME_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    version: str
    device: str
    backends: _containers.RepeatedScalarFieldContainer[str]
    pixel_formats: _containers.RepeatedScalarFieldContainer[PixelFormat]
    max_frame_bytes: int
    max_views: int
    max_dimension: int
    adain_models: _containers.RepeatedScalarFieldContainer[str]
    max_streams: int
    stream_idle_timeout_s: float
    max_style_image_bytes: int
    max_added_styles: int
    max_mix_styles: int
    max_name_chars: int
    max_display_name_chars: int
    max_list_styles_page: int
    max_streams_per_connection: int
    max_style_pixels: int
    max_style_decoded_pixels: int
    frame_deadline_s: float
    def __init__(self, version: _Optional[str] = ..., device: _Optional[str] = ..., backends: _Optional[_Iterable[str]] = ..., pixel_formats: _Optional[_Iterable[_Union[PixelFormat, str]]] = ..., max_frame_bytes: _Optional[int] = ..., max_views: _Optional[int] = ..., max_dimension: _Optional[int] = ..., adain_models: _Optional[_Iterable[str]] = ..., max_streams: _Optional[int] = ..., stream_idle_timeout_s: _Optional[float] = ..., max_style_image_bytes: _Optional[int] = ..., max_added_styles: _Optional[int] = ..., max_mix_styles: _Optional[int] = ..., max_name_chars: _Optional[int] = ..., max_display_name_chars: _Optional[int] = ..., max_list_styles_page: _Optional[int] = ..., max_streams_per_connection: _Optional[int] = ..., max_style_pixels: _Optional[int] = ..., max_style_decoded_pixels: _Optional[int] = ..., frame_deadline_s: _Optional[float] = ...) -> None: ...
