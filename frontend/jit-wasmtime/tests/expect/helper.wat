;; entries [512]; interpreter ops ["Cpuid"]
(module
  (type (;0;) (func (result i32)))
  (type (;1;) (func (param i32 i32 i32 i32 i32 i32) (result i32)))
  (type (;2;) (func (param i32) (result i32)))
  (import "e" "m" (memory (;0;) 18))
  (import "e" "h" (func (;0;) (type 2)))
  (import "e" "t" (table (;0;) 288 funcref))
  (export "run" (func 1))
  (func (;1;) (type 0) (result i32)
    (local i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64 i64)
    i32.const 0
    i32.load
    local.set 0
    i32.const 0
    i32.load offset=4
    local.set 1
    i32.const 0
    i32.load offset=8
    local.set 2
    i32.const 0
    i32.load offset=12
    local.set 3
    i32.const 0
    i32.load offset=16
    local.set 4
    i32.const 0
    i32.load offset=20
    local.set 5
    i32.const 0
    i32.load offset=24
    local.set 6
    i32.const 0
    i32.load offset=28
    local.set 7
    i32.const 0
    i32.load offset=36
    local.set 8
    i32.const 0
    i32.load offset=40
    local.set 9
    i32.const 0
    i32.load offset=44
    local.set 10
    i32.const 0
    i32.load offset=48
    local.set 11
    i32.const 0
    i32.load offset=52
    local.set 12
    i32.const 0
    i32.load offset=56
    local.set 13
    i32.const 0
    i32.load offset=60
    local.set 14
    i32.const 0
    i32.load offset=64
    local.set 18
    i32.const 0
    i32.load offset=68
    local.set 19
    i32.const 0
    i32.load offset=72
    local.set 20
    i32.const 0
    i32.load offset=76
    local.set 21
    i32.const 0
    i32.load offset=80
    local.set 27
    i32.const 0
    i32.load offset=84
    local.set 28
    i32.const 0
    i32.load offset=88
    local.set 29
    i32.const 0
    i32.load offset=32
    local.set 24
    local.get 24
    i32.const -4096
    i32.and
    local.set 15
    local.get 24
    i32.const 4095
    i32.and
    local.set 16
    block ;; label = @1
      loop ;; label = @2
        block ;; label = @3
          block ;; label = @4
            local.get 16
            i32.const 512
            i32.sub
            br_table 1 (;@3;) 0 (;@4;)
          end
          local.get 15
          local.get 16
          i32.or
          local.set 17
          br 2 (;@1;)
        end
        local.get 14
        i32.const 6
        i32.lt_u
        if ;; label = @3
          local.get 15
          i32.const 512
          i32.add
          local.set 17
          br 2 (;@1;)
        end
        local.get 14
        i32.const 6
        i32.sub
        local.set 14
        i32.const 3
        local.set 25
        local.get 0
        local.set 24
        local.get 24
        local.get 25
        i32.shl
        local.set 26
        local.get 26
        local.set 0
        i32.const 528
        local.set 9
        local.get 24
        local.set 11
        local.get 25
        local.set 12
        local.get 26
        local.set 10
        i32.const 0
        local.set 13
        local.get 1
        local.set 25
        local.get 2
        i64.extend_i32_u
        i64.const 32
        i64.shl
        local.get 0
        i64.extend_i32_u
        i64.or
        local.set 47
        local.get 2
        local.get 25
        i32.ge_u
        if ;; label = @3
          local.get 15
          i32.const 515
          i32.add
          local.set 17
          local.get 14
          i32.const 5
          i32.add
          local.set 14
          br 2 (;@1;)
        end
        local.get 47
        local.get 25
        i64.extend_i32_u
        i64.div_u
        local.set 48
        local.get 47
        local.get 25
        i64.extend_i32_u
        i64.rem_u
        i32.wrap_i64
        local.set 2
        local.get 48
        i32.wrap_i64
        local.set 0
        local.get 0
        local.set 2
        local.get 9
        local.get 10
        local.get 11
        local.get 12
        local.get 13
        local.get 8
        call 2
        local.set 8
        i32.const 0
        local.set 9
        i32.const 0
        local.get 0
        i32.store
        i32.const 0
        local.get 1
        i32.store offset=4
        i32.const 0
        local.get 2
        i32.store offset=8
        i32.const 0
        local.get 3
        i32.store offset=12
        i32.const 0
        local.get 4
        i32.store offset=16
        i32.const 0
        local.get 5
        i32.store offset=20
        i32.const 0
        local.get 6
        i32.store offset=24
        i32.const 0
        local.get 7
        i32.store offset=28
        i32.const 0
        local.get 8
        i32.store offset=36
        i32.const 0
        local.get 9
        i32.store offset=40
        i32.const 0
        local.get 10
        i32.store offset=44
        i32.const 0
        local.get 11
        i32.store offset=48
        i32.const 0
        local.get 12
        i32.store offset=52
        i32.const 0
        local.get 13
        i32.store offset=56
        i32.const 0
        local.get 15
        i32.const 519
        i32.add
        i32.store offset=32
        i32.const 0
        local.get 14
        i32.const 3
        i32.add
        i32.store offset=60
        i32.const 4194304
        call 0
        local.set 24
        i32.const 0
        i32.load
        local.set 0
        i32.const 0
        i32.load offset=4
        local.set 1
        i32.const 0
        i32.load offset=8
        local.set 2
        i32.const 0
        i32.load offset=12
        local.set 3
        i32.const 0
        i32.load offset=16
        local.set 4
        i32.const 0
        i32.load offset=20
        local.set 5
        i32.const 0
        i32.load offset=24
        local.set 6
        i32.const 0
        i32.load offset=28
        local.set 7
        i32.const 0
        i32.load offset=36
        local.set 8
        i32.const 0
        i32.load offset=40
        local.set 9
        i32.const 0
        i32.load offset=44
        local.set 10
        i32.const 0
        i32.load offset=48
        local.set 11
        i32.const 0
        i32.load offset=52
        local.set 12
        i32.const 0
        i32.load offset=56
        local.set 13
        local.get 24
        if ;; label = @3
          i32.const 0
          i32.load offset=32
          local.set 17
          i32.const 0
          i32.load offset=60
          local.set 14
          br 2 (;@1;)
        end
        local.get 9
        local.get 10
        local.get 11
        local.get 12
        local.get 13
        local.get 8
        call 2
        local.set 8
        i32.const 0
        local.set 9
        local.get 8
        i32.const 0
        i32.shr_u
        i32.const 1
        i32.and
        local.set 25
        local.get 8
        i32.const -2
        i32.and
        local.get 25
        i32.or
        local.set 8
        local.get 2
        local.set 24
        local.get 24
        i32.const 1
        i32.add
        local.set 26
        local.get 26
        local.set 2
        i32.const 1
        local.set 25
        i32.const 518
        local.set 9
        local.get 24
        local.set 11
        local.get 25
        local.set 12
        local.get 26
        local.set 10
        i32.const 0
        local.set 13
        local.get 4
        local.set 22
        local.get 22
        i32.const 9
        i32.shr_u
        i32.const 32760
        i32.and
        i64.load offset=4096
        local.set 48
        local.get 48
        i32.wrap_i64
        local.get 18
        i32.and
        local.get 22
        i32.const 3
        i32.add
        i32.const -4096
        i32.and
        local.get 19
        i32.or
        i32.ne
        if ;; label = @3
          local.get 15
          i32.const 522
          i32.add
          local.set 17
          local.get 14
          i32.const 1
          i32.add
          local.set 14
          br 2 (;@1;)
        end
        local.get 48
        i64.const 32
        i64.shr_u
        i32.wrap_i64
        local.set 25
        local.get 25
        local.get 22
        i32.const 4095
        i32.and
        i32.or
        local.set 23
        local.get 4
        i32.const 4
        i32.add
        local.set 4
        local.get 23
        i32.load offset=65536 align=1
        local.set 24
        local.get 24
        i32.const -4096
        i32.and
        local.get 15
        i32.eq
        if ;; label = @3
          local.get 24
          i32.const 4095
          i32.and
          local.set 16
          br 1 (;@2;)
        end
        local.get 24
        local.set 17
        i32.const 1
        local.set 46
        br 1 (;@1;)
      end
    end
    local.get 9
    i32.const 255
    i32.and
    i32.const 16
    i32.ge_u
    if ;; label = @1
      local.get 9
      local.get 10
      local.get 11
      local.get 12
      local.get 13
      local.get 8
      call 2
      local.set 8
      i32.const 0
      local.set 9
    end
    i32.const 0
    local.get 0
    i32.store
    i32.const 0
    local.get 1
    i32.store offset=4
    i32.const 0
    local.get 2
    i32.store offset=8
    i32.const 0
    local.get 3
    i32.store offset=12
    i32.const 0
    local.get 4
    i32.store offset=16
    i32.const 0
    local.get 5
    i32.store offset=20
    i32.const 0
    local.get 6
    i32.store offset=24
    i32.const 0
    local.get 7
    i32.store offset=28
    i32.const 0
    local.get 17
    i32.store offset=32
    i32.const 0
    local.get 8
    i32.store offset=36
    i32.const 0
    local.get 9
    i32.store offset=40
    i32.const 0
    local.get 10
    i32.store offset=44
    i32.const 0
    local.get 11
    i32.store offset=48
    i32.const 0
    local.get 12
    i32.store offset=52
    i32.const 0
    local.get 13
    i32.store offset=56
    i32.const 0
    local.get 14
    i32.store offset=60
    local.get 46
    if ;; label = @1
      local.get 17
      i32.const 9
      i32.shr_u
      i32.const 32760
      i32.and
      i64.load offset=4096
      local.set 48
      local.get 48
      i32.wrap_i64
      i32.const 0
      i32.load offset=92
      i32.and
      local.get 17
      i32.const -4096
      i32.and
      i32.const 0
      i32.load offset=96
      i32.or
      i32.eq
      if ;; label = @2
        local.get 48
        i64.const 44
        i64.shr_u
        i32.wrap_i64
        local.set 24
        local.get 24
        i32.const 288
        i32.lt_u
        local.get 14
        i32.const 0
        i32.ne
        i32.and
        if ;; label = @3
          i32.const 0
          i32.const 0
          i32.load offset=100
          i32.const 1
          i32.add
          i32.store offset=100
          local.get 24
          return_call_indirect (type 0)
        end
      end
    end
    i32.const 0
  )
  ;; (the flags helper, function 2, is left out)
